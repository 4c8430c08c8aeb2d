import { useId, useState, type FormEvent } from "react";
import { ApiError } from "../api";
import { updateRoom } from "../chat";
import type { Rearrange, Room } from "../protocol";
import type { MentionEveryone, PinPolicy } from "../protocol.gen";
import { Dialog } from "./Dialog";

const REARRANGE: { value: Rearrange; label: string }[] = [
  { value: "anyone", label: "Anyone in the room" },
  { value: "moderators", label: "Owner and admins" },
  { value: "nobody", label: "Nobody" },
];

export function RoomSettingsDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  const [name, setName] = useState(room.name);
  const [topic, setTopic] = useState(room.topic);
  const [rearrange, setRearrange] = useState<Rearrange>(room.rearrange);
  const [pins, setPins] = useState<PinPolicy>(room.pins ?? "moderators");
  const pinsId = useId();
  const [everyone, setEveryone] = useState<MentionEveryone>(room.mention_everyone ?? "anyone");
  const everyoneId = useId();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameId = useId();
  const topicId = useId();
  const rearrangeId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      const patch: { name?: string; topic?: string; rearrange?: Rearrange; pins?: PinPolicy; mention_everyone?: MentionEveryone } =
        {};
      if (name.trim() !== room.name) patch.name = name.trim();
      if (topic.trim() !== room.topic) patch.topic = topic.trim();
      if (rearrange !== room.rearrange) patch.rearrange = rearrange;
      if (pins !== (room.pins ?? "moderators")) patch.pins = pins;
      if (everyone !== (room.mention_everyone ?? "anyone")) patch.mention_everyone = everyone;
      if (Object.keys(patch).length) await updateRoom(room.id, patch);
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong");
      setBusy(false);
    }
  }

  return (
    <Dialog title="Room settings" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label htmlFor={nameId}>Name</label>
        <input id={nameId} required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={topicId}>Topic</label>
        <input id={topicId} maxLength={200} value={topic} onChange={(e) => setTopic(e.target.value)} />
        <label htmlFor={rearrangeId}>Who may rearrange messages</label>
        <select id={rearrangeId} value={rearrange} onChange={(e) => setRearrange(e.target.value as Rearrange)}>
          {REARRANGE.map((r) => (
            <option key={r.value} value={r.value}>
              {r.label}
            </option>
          ))}
        </select>
        <label htmlFor={pinsId}>Who may pin messages</label>
        <select id={pinsId} value={pins} onChange={(e) => setPins(e.target.value as PinPolicy)}>
          <option value="moderators">Owner and moderators</option>
          <option value="anyone">Anyone who may post</option>
        </select>
        <label htmlFor={everyoneId}>Who may notify everyone with @room and @here</label>
        <select id={everyoneId} value={everyone} onChange={(e) => setEveryone(e.target.value as MentionEveryone)}>
          <option value="anyone">Anyone who may post</option>
          <option value="moderators">Owner and moderators</option>
        </select>
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
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
