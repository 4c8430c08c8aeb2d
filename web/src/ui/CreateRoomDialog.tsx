import { useId, useState, type FormEvent } from "react";
import { ApiError } from "../api";
import { createRoom } from "../chat";
import { Dialog } from "./Dialog";

export function CreateRoomDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameId = useId();
  const topicId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      await createRoom(name, topic);
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong");
      setBusy(false);
    }
  }

  return (
    <Dialog title="Create a room" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label htmlFor={nameId}>Name</label>
        <input id={nameId} required maxLength={64} autoFocus value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={topicId}>Topic (optional)</label>
        <input id={topicId} maxLength={200} value={topic} onChange={(e) => setTopic(e.target.value)} />
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
