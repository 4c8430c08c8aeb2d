import { useId, useState, type FormEvent } from "react";
import { describe, toast } from "../chat";
import { displayName } from "../names";
import { report } from "../people";
import type { Message } from "../protocol";
import { Dialog } from "./Dialog";

const MAX_REASON = 500;

/** "Report": tell the room's moderators about a message, with a reason. */
export function ReportDialog({ roomId, message, onClose }: { roomId: string; message: Message; onClose: () => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reasonId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      await report(roomId, message.id, reason);
      toast("Thanks — the moderators have been told.");
      onClose();
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  }

  return (
    <Dialog title="Report this message" onClose={onClose}>
      <form className="stack" onSubmit={submit}>
        <blockquote className="quoted">
          <strong>{displayName(message.author)}</strong>
          <span>{message.body.length > 280 ? `${message.body.slice(0, 280)}…` : message.body}</span>
        </blockquote>
        <label htmlFor={reasonId}>What's wrong with it?</label>
        <textarea
          id={reasonId}
          autoFocus
          required
          rows={3}
          maxLength={MAX_REASON}
          placeholder="Spam, abuse, something else…"
          value={reason}
          onChange={(e) => setReason(e.target.value)}
        />
        <p className="muted small">Only the room's moderators see reports.</p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn danger" disabled={busy || !reason.trim()}>
            Report
          </button>
        </div>
      </form>
    </Dialog>
  );
}
