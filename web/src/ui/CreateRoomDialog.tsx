import { useId, useRef, useState, type FormEvent } from "react";
import { ApiError } from "../api";
import { createRoom } from "../chat";
import { Dialog } from "./Dialog";
import { LockIcon } from "./icons";

export function CreateRoomDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [kind, setKind] = useState<"public" | "private">("public");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const created = useRef(false);
  const nameId = useId();
  const topicId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      await createRoom(name, topic, kind);
      // The new room is open behind the dialog: closing hands the focus to its message box.
      created.current = true;
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong");
      setBusy(false);
    }
  }

  return (
    <Dialog title="Create a room" onClose={onClose} focusAfter={() => (created.current ? document.getElementById("composer-input") : null)}>
      <form onSubmit={submit} className="stack">
        <label htmlFor={nameId}>Name</label>
        <input id={nameId} required maxLength={64} autoFocus value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={topicId}>Topic (optional)</label>
        <input id={topicId} maxLength={200} value={topic} onChange={(e) => setTopic(e.target.value)} />
        <fieldset className="kind-choice">
          <legend>Who can find it</legend>
          <label className={`kind-option${kind === "public" ? " active" : ""}`}>
            <input type="radio" name="kind" value="public" checked={kind === "public"} onChange={() => setKind("public")} />
            <span className="kind-icon" aria-hidden="true">
              #
            </span>
            <span>
              <strong>Public</strong>
              <span className="muted small">Anyone can find and join it.</span>
            </span>
          </label>
          <label className={`kind-option${kind === "private" ? " active" : ""}`}>
            <input type="radio" name="kind" value="private" checked={kind === "private"} onChange={() => setKind("private")} />
            <span className="kind-icon" aria-hidden="true">
              <LockIcon size={14} />
            </span>
            <span>
              <strong>Private</strong>
              <span className="muted small">Only people who are invited or added can see it.</span>
            </span>
          </label>
        </fieldset>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={busy || !name.trim()}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}
