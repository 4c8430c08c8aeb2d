/**
 * Files (#12) in the UI: what a message carries (thumbnails with their size reserved, a
 * lightbox, inline players, download chips) and the composer's tray of uploads in progress.
 */
import { useState } from "react";
import { fitBox, formatSize, shapeOf } from "../files";
import type { FileInfo } from "../protocol";
import { Dialog } from "./Dialog";
import { CloseIcon } from "./icons";

export function Attachments({ files }: { files: FileInfo[] }) {
  const [open, setOpen] = useState<FileInfo | null>(null);
  if (files.length === 0) return null;
  return (
    <div className="attachments" data-testid="attachments">
      {files.map((file) => {
        const shape = shapeOf(file);
        if (shape === "image" && file.width && file.height && file.thumbnail_url) {
          const box = fitBox(file.width, file.height);
          return (
            <button key={file.id} className="attachment-image" onClick={() => setOpen(file)} aria-label={`Open image ${file.name}`} title={file.name}>
              <img src={file.thumbnail_url} width={box.width} height={box.height} alt={file.name} loading="lazy" data-testid="thumbnail" />
            </button>
          );
        }
        if (shape === "video") {
          return <video key={file.id} className="attachment-media" src={file.url} controls preload="metadata" aria-label={file.name} data-testid="video" />;
        }
        if (shape === "audio") {
          return <audio key={file.id} className="attachment-audio" src={file.url} controls preload="metadata" aria-label={file.name} data-testid="audio" />;
        }
        return (
          <a key={file.id} className="file-chip" href={file.url} download={file.name} data-testid="file-chip">
            <span className="file-chip-name">{file.name}</span>
            <span className="muted small">{formatSize(file.size)}</span>
          </a>
        );
      })}
      {open && <Lightbox file={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

function Lightbox({ file, onClose }: { file: FileInfo; onClose: () => void }) {
  return (
    <Dialog title={file.name} onClose={onClose} wide>
      <div className="lightbox" data-testid="lightbox">
        <img src={file.url} alt={file.name} width={file.width ?? undefined} height={file.height ?? undefined} data-testid="lightbox-image" />
      </div>
      <div className="dialog-actions">
        <a className="btn ghost" href={file.url} download={file.name}>
          Download ({formatSize(file.size)})
        </a>
        <button className="btn primary" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </Dialog>
  );
}

/** One file on its way up, or up. */
export type PendingUpload = {
  key: string;
  name: string;
  progress: number;
  file?: FileInfo;
  error?: string;
  cancel: () => void;
};

export function UploadTray({ uploads, onRemove }: { uploads: PendingUpload[]; onRemove: (key: string) => void }) {
  if (uploads.length === 0) return null;
  return (
    <ul className="upload-tray" aria-label="Files to send" data-testid="upload-tray">
      {uploads.map((u) => (
        <li key={u.key} className={`upload${u.error ? " failed" : ""}`} data-testid="upload" data-state={u.error ? "failed" : u.file ? "done" : "uploading"}>
          <span className="upload-name" title={u.name}>
            {u.name}
          </span>
          {u.error ? (
            <span className="upload-error small" role="alert">
              {u.error}
            </span>
          ) : (
            <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
          )}
          <button
            className="icon-btn"
            type="button"
            aria-label={u.file || u.error ? `Remove ${u.name}` : `Cancel ${u.name}`}
            title={u.file || u.error ? "Remove" : "Cancel"}
            onClick={() => {
              u.cancel();
              onRemove(u.key);
            }}
          >
            <CloseIcon />
          </button>
        </li>
      ))}
    </ul>
  );
}
