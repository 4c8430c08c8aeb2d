import { describe, expect, it } from "vitest";
import { fitBox, formatSize, shapeOf } from "./files";
import type { FileInfo } from "./protocol";

const file = (over: Partial<FileInfo>): FileInfo => ({
  id: "f1",
  name: "a",
  size: 1,
  content_type: "application/octet-stream",
  width: null,
  height: null,
  url: "/api/files/f1",
  thumbnail_url: null,
  ...over,
});

describe("files", () => {
  it("fits a thumbnail's box inside 320 px, keeping the shape", () => {
    expect(fitBox(640, 480)).toEqual({ width: 320, height: 240 });
    expect(fitBox(100, 4000)).toEqual({ width: 8, height: 320 });
    expect(fitBox(20, 10)).toEqual({ width: 20, height: 10 });
  });

  it("shows images with a thumbnail, players for media, a chip for the rest", () => {
    expect(shapeOf(file({ content_type: "image/png", width: 2, height: 2, thumbnail_url: "/t" }))).toBe("image");
    expect(shapeOf(file({ content_type: "image/png" }))).toBe("other");
    expect(shapeOf(file({ content_type: "video/mp4" }))).toBe("video");
    expect(shapeOf(file({ content_type: "audio/mpeg" }))).toBe("audio");
    expect(shapeOf(file({ content_type: "application/pdf" }))).toBe("other");
  });

  it("formats sizes", () => {
    expect(formatSize(12)).toBe("12 B");
    expect(formatSize(1500)).toBe("1.5 KB");
    expect(formatSize(25_000_000)).toBe("25.0 MB");
  });
});
