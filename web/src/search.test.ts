import { describe, expect, it } from "vitest";
import { highlightParts } from "./search";

describe("highlightParts", () => {
  it("cuts by code points, not UTF-16 units", () => {
    // "😀" is two UTF-16 units and one code point.
    expect(highlightParts("😀 see foo.bar now", [[6, 13]])).toEqual([
      { text: "😀 see ", hit: false },
      { text: "foo.bar", hit: true },
      { text: " now", hit: false },
    ]);
  });

  it("keeps the whole text whatever the spans", () => {
    const body = "alpha beta gamma";
    for (const spans of [[], [[0, 5]], [[6, 10], [11, 16]], [[14, 99]], [[3, 2]]] as [number, number][][]) {
      expect(highlightParts(body, spans).map((p) => p.text).join("")).toBe(body);
    }
    expect(highlightParts(body, [[0, 5], [11, 16]]).filter((p) => p.hit).map((p) => p.text)).toEqual(["alpha", "gamma"]);
  });
});
