/**
 * A message's actions on a touch screen (#15): a long press opens this bottom sheet instead of a
 * row of small buttons squeezed beside the text. It also shows the message's exact time, which a
 * touch screen can't reach by hovering.
 */
import { setRearranging, toast } from "../chat";
import { displayName } from "../names";
import type { Message } from "../protocol";
import { extras } from "../protocol";
import { FREQUENT_EMOJI, openThread, setPinned, startReply, toggleReaction } from "../threads";
import { exactTime } from "../time";
import { Dialog } from "./Dialog";
import { CopyIcon, FlagIcon, GripIcon, PencilIcon, PinIcon, ReplyIcon, ThreadIcon, TrashIcon } from "./icons";

export type SheetAction = "edit" | "delete" | "report";

export function MessageSheet({
  roomId,
  message: m,
  mine,
  canDelete,
  canMove,
  canPin,
  onAction,
  onClose,
}: {
  roomId: string;
  message: Message;
  mine: boolean;
  canDelete: boolean;
  canMove: boolean;
  canPin: boolean;
  /** The actions whose dialogs or editors belong to the message itself. */
  onAction: (action: SheetAction) => void;
  onClose: () => void;
}) {
  const pinned = extras(m).pinned;
  const run = (f: () => void) => () => {
    onClose();
    f();
  };
  return (
    <Dialog title="Message actions" onClose={onClose} className="sheet">
      <p className="sheet-meta muted small" data-testid="sheet-time">
        {displayName(m.author)} · <time dateTime={m.created_at}>{exactTime(m.created_at)}</time>
      </p>
      <div className="sheet-reactions" role="group" aria-label="Frequent reactions">
        {FREQUENT_EMOJI.map((e) => (
          <button key={e} className="emoji-btn" aria-label={`React with ${e}`} onClick={run(() => void toggleReaction(roomId, m, e))}>
            {e}
          </button>
        ))}
      </div>
      <ul className="sheet-actions">
        <li>
          <button onClick={run(() => startReply(roomId, m.id))}>
            <ReplyIcon /> Reply
          </button>
        </li>
        <li>
          <button onClick={run(() => void openThread(roomId, m.id))}>
            <ThreadIcon /> Reply in thread
          </button>
        </li>
        {canPin && (
          <li>
            <button onClick={run(() => void setPinned(roomId, m.id, !pinned))}>
              <PinIcon /> {pinned ? "Unpin" : "Pin"}
            </button>
          </li>
        )}
        {m.body && typeof navigator !== "undefined" && navigator.clipboard && (
          <li>
            <button onClick={run(() => void navigator.clipboard.writeText(m.body).then(() => toast("Copied", 2000), () => toast("Couldn't copy")))}>
              <CopyIcon /> Copy text
            </button>
          </li>
        )}
        {mine && (
          <li>
            <button onClick={run(() => onAction("edit"))}>
              <PencilIcon /> Edit
            </button>
          </li>
        )}
        {canMove && (
          <li>
            <button onClick={run(() => setRearranging(roomId))}>
              <GripIcon /> Rearrange messages
            </button>
          </li>
        )}
        {!mine && (
          <li>
            <button onClick={run(() => onAction("report"))}>
              <FlagIcon /> Report
            </button>
          </li>
        )}
        {canDelete && (
          <li>
            <button className="danger-text" onClick={run(() => onAction("delete"))}>
              <TrashIcon /> Delete
            </button>
          </li>
        )}
      </ul>
    </Dialog>
  );
}
