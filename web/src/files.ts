/**
 * Files (#12): uploading one file with progress and cancel (XMLHttpRequest, whose upload
 * progress fetch lacks), and how a file is shown.
 */
import type { FileInfo } from "./protocol";

export type Upload = {
  /** Settles with the stored file, or rejects with a readable reason ("" when cancelled). */
  done: Promise<FileInfo>;
  cancel(): void;
};

/** Sends `file` to POST /api/files as the multipart part `file`; `progress` gets 0..1. */
export function uploadFile(file: File, progress: (fraction: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const done = new Promise<FileInfo>((resolve, reject) => {
    xhr.open("POST", "/api/files");
    xhr.withCredentials = true;
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) progress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status === 201) {
        progress(1);
        resolve(xhr.response as FileInfo);
        return;
      }
      const err = (xhr.response as { error?: { code?: string; message?: string } } | null)?.error;
      reject(new Error(uploadError(err?.code, err?.message)));
    };
    xhr.onerror = () => reject(new Error("Could not reach the server"));
    xhr.onabort = () => reject(new Error(""));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { done, cancel: () => xhr.abort() };
}

function uploadError(code: string | undefined, message: string | undefined): string {
  switch (code) {
    case "file_too_large":
      return message ?? "The file is too large";
    case "quota_exceeded":
      return "You have no room left for files";
    case "file_type_not_allowed":
      return "Files of this type can't be shared";
    default:
      return message ?? "The upload failed";
  }
}

export type FileShape = "image" | "video" | "audio" | "other";

/** How a file is shown: images by thumbnail, video and audio as players, the rest as a chip. */
export function shapeOf(file: FileInfo): FileShape {
  if (file.thumbnail_url && file.width && file.height) return "image";
  if (file.content_type.startsWith("video/")) return "video";
  if (file.content_type.startsWith("audio/")) return "audio";
  return "other";
}

/** The thumbnail's box: the image scaled to fit `max` × `max`, so the list never jumps. */
export function fitBox(width: number, height: number, max = 320): { width: number; height: number } {
  const scale = Math.min(1, max / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** 1.5 MB, 20 KB, 12 B. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(bytes < 10_000 ? 1 : 0)} KB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(1)} GB`;
}
