import { useSortable } from "@dnd-kit/sortable";
import { DownIcon, FlagIcon, GripIcon, PencilIcon, TrashIcon, UpIcon } from "./icons";
import { CSS } from "@dnd-kit/utilities";
import { memo, useEffect, useState } from "react";
import { deleteMessage, deleteOwnMessage, discardSend, editMessage, retrySend } from "../chat";
import { MessageSheet, type SheetAction } from "./MessageSheet";
import { useLongPress, useTouchUi } from "./useTouch";
import { displayName } from "../names";
import { openProfile } from "../people";
import type { Message, User } from "../protocol";
import { actionText } from "../slash";
import type { Notice, OutboxEntry } from "../roomState";
import { exactTime, relativeTime } from "../time";
import { Avatar } from "./Avatar";
import { Attachments } from "./Attachments";
import { ConfirmDialog } from "./Dialog";
import { ReportDialog } from "./ReportDialog";
// ---- issue #10 ----
import { extras } from "../protocol";
import { useChat } from "../store";
import { clearEditRequest } from "../threads";
import { ExtraActions, MessageText, PinMark, ReactionBar, ReplyQuote, ThreadLine, useMentionsMe } from "./MessageExtras";

type Props = {
  message: Message;
  roomId: string;
  mine: boolean;
  grouped: boolean;
  canDelete: boolean;
  canMove: boolean;
  /** #10: may pin and unpin here. */
  canPin?: boolean;
  now: number;
  /** The one message in the tab order (roving tabindex); arrows move between messages. */
  tabbable: boolean;
  onMoveBy: (messageId: string, delta: number) => void;
  onFocusMessage: (messageId: string) => void;
};

export const MessageItem = memo(function MessageItem(props: Props) {
  const { message: m, roomId, mine, grouped, canDelete, canMove, now, tabbable, onMoveBy, onFocusMessage, canPin = false } = props;
  const tab = tabbable ? 0 : -1;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(m.body);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [reporting, setReporting] = useState(false);
  // #15: on a touch screen a long press opens the actions as a sheet; the hover toolbar is not
  // shown there except for the drag handles while the room is being rearranged.
  const touch = useTouchUi();
  const rearranging = useChat((s) => s.rearranging === roomId);
  const [sheet, setSheet] = useState(false);
  const movedBy = useChat((s) => s.movedBy[m.id]);
  const longPress = useLongPress(() => setSheet(true), touch && !editing && !rearranging);
  const action = actionText(m.body);
  const author = displayName(m.author);
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, transition, isDragging } = useSortable({
    id: m.id,
    disabled: !canMove,
  });
  // #10: mentions highlight; ArrowUp in an empty composer asks to edit this one.
  const mentioned = useMentionsMe(m);
  const x = extras(m);
  const editRequested = useChat((s) => s.editRequest === m.id);
  useEffect(() => {
    if (!editRequested) return;
    clearEditRequest();
    setDraft(m.body);
    setEditing(true);
  }, [editRequested, m.body]);

  function save() {
    const body = draft.trim();
    setEditing(false);
    if (body && body !== m.body) void editMessage(roomId, m.id, body);
  }

  function onSheetAction(a: SheetAction) {
    if (a === "edit") {
      setDraft(m.body);
      setEditing(true);
    } else if (a === "report") setReporting(true);
    else remove();
  }

  const toolbar = !editing && (!touch || (rearranging && canMove));

  function remove() {
    // One's own message goes at once, with a few seconds to undo (#15); someone else's is
    // confirmed first.
    if (mine) deleteOwnMessage(roomId, m.id);
    else setConfirmDelete(true);
  }

  return (
    <li
      ref={setNodeRef}
      className={`msg${grouped && !action && !x.reply_to ? " grouped" : ""}${mine ? " mine" : ""}${isDragging ? " dragging" : ""}${action ? " action" : ""}${mentioned ? " mentioned" : ""}${x.pinned ? " pinned" : ""}${movedBy ? " moved" : ""}`}
      style={{ transform: CSS.Translate.toString(transform), transition }}
      data-testid="message"
      data-id={m.id}
      data-state="sent"
      data-mentioned={mentioned || undefined}
      aria-label={action ? `* ${author} ${action}` : `${author}: ${m.body}`}
      aria-keyshortcuts={canMove ? "Alt+ArrowUp Alt+ArrowDown" : undefined}
      tabIndex={tab}
      onFocus={() => onFocusMessage(m.id)}
      {...longPress}
      onKeyDown={(e) => {
        if (e.target !== e.currentTarget) return;
        if (e.key === "ArrowUp" || e.key === "ArrowDown") {
          e.preventDefault();
          const up = e.key === "ArrowUp";
          if (e.altKey) {
            if (canMove) onMoveBy(m.id, up ? -1 : 1);
            return;
          }
          const all = [...(e.currentTarget.parentElement?.querySelectorAll<HTMLElement>("li.msg[data-id]") ?? [])];
          const next = all[all.indexOf(e.currentTarget) + (up ? -1 : 1)];
          next?.focus();
        } else if (e.key === "Enter" && mine && !editing) {
          e.preventDefault();
          setDraft(m.body);
          setEditing(true);
        } else if (e.key === "Delete" && canDelete) {
          e.preventDefault();
          remove();
        }
      }}
    >
      <div className="msg-gutter">
        {grouped || action ? (
          <time className="msg-hover-time" dateTime={m.created_at} title={exactTime(m.created_at)}>
            {relativeTime(m.created_at, now)}
          </time>
        ) : (
          <button className="avatar-btn" tabIndex={-1} aria-hidden="true" onClick={() => openProfile(m.author.id, roomId)}>
            <Avatar user={m.author} />
          </button>
        )}
      </div>
      <div className="msg-main">
        {x.reply_to && <ReplyQuote roomId={roomId} replyTo={x.reply_to} />}
        {(!grouped || x.reply_to) && !action && (
          <div className="msg-meta">
            <button className="msg-author" data-testid="author" tabIndex={tab} onClick={() => openProfile(m.author.id, roomId)}>
              {author}
            </button>
            {m.author.guest && <span className="tag">guest</span>}
            <time dateTime={m.created_at} title={exactTime(m.created_at)}>
              {relativeTime(m.created_at, now)}
            </time>
            <PinMark message={m} />
          </div>
        )}
        {editing ? (
          <div className="msg-edit">
            <label className="sr-only" htmlFor={`edit-${m.id}`}>
              Edit message
            </label>
            <textarea
              id={`edit-${m.id}`}
              autoFocus
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) {
                  e.preventDefault();
                  save();
                } else if (e.key === "Escape") {
                  e.preventDefault();
                  setEditing(false);
                }
              }}
            />
            <div className="msg-edit-actions">
              <span className="muted small">Enter to save · Esc to cancel</span>
              <button className="btn ghost small" onClick={() => setEditing(false)}>
                Cancel
              </button>
              <button className="btn primary small" onClick={save}>
                Save
              </button>
            </div>
          </div>
        ) : action ? (
          <div className="msg-body msg-action" data-testid="body">
            <span className="sr-only">action: </span>* <span data-testid="action-author">{author}</span> {action}
            {m.edited_at && (
              <span className="edited" title={`Edited ${exactTime(m.edited_at)}`} data-testid="edited">
                {" "}
                (edited)
              </span>
            )}
          </div>
        ) : (
          <div className="msg-body" data-testid="body">
            <MessageText body={m.body} />
            {m.edited_at && (
              <span className="edited" title={`Edited ${exactTime(m.edited_at)}`} data-testid="edited">
                {" "}
                (edited)
              </span>
            )}
          </div>
        )}
        {movedBy && (
          <p className="moved-note" data-testid="moved-note">
            Moved by {movedBy}
          </p>
        )}
        {/* Files (#12) */}
        {!editing && m.attachments && <Attachments files={m.attachments} />}
        {!editing && <ReactionBar roomId={roomId} message={m} />}
        {!editing && <ThreadLine roomId={roomId} message={m} now={now} />}
      </div>
      {toolbar && (
        <div className={`msg-actions${touch ? " rearrange-only" : ""}`} role="toolbar" aria-label="Message actions">
          {!touch && <ExtraActions roomId={roomId} message={m} tab={tab} canPin={canPin} />}
          {canMove && (
            <>
              <button
                ref={setActivatorNodeRef}
                className="icon-btn handle"
                aria-label="Drag to move (space to pick up with the keyboard)"
                title="Drag to move"
                {...attributes}
                {...listeners}
                tabIndex={tab}
              >
                <GripIcon />
              </button>
              <button className="icon-btn" tabIndex={tab} aria-label="Move up" title="Move up" onClick={() => onMoveBy(m.id, -1)}>
                <UpIcon />
              </button>
              <button className="icon-btn" tabIndex={tab} aria-label="Move down" title="Move down" onClick={() => onMoveBy(m.id, 1)}>
                <DownIcon />
              </button>
            </>
          )}
          {mine && !touch && (
            <button
              className="icon-btn"
              tabIndex={tab}
              aria-label="Edit"
              title="Edit"
              onClick={() => {
                setDraft(m.body);
                setEditing(true);
              }}
            >
              <PencilIcon />
            </button>
          )}
          {!mine && !touch && (
            <button className="icon-btn" tabIndex={tab} aria-label="Report" title="Report to the moderators" onClick={() => setReporting(true)}>
              <FlagIcon />
            </button>
          )}
          {canDelete && !touch && (
            <button className="icon-btn danger-text" tabIndex={tab} aria-label="Delete" title="Delete" onClick={remove}>
              <TrashIcon />
            </button>
          )}
        </div>
      )}
      {sheet && (
        <MessageSheet
          roomId={roomId}
          message={m}
          mine={mine}
          canDelete={canDelete}
          canMove={canMove}
          canPin={canPin}
          onAction={onSheetAction}
          onClose={() => setSheet(false)}
        />
      )}
      {reporting && <ReportDialog roomId={roomId} message={m} onClose={() => setReporting(false)} />}
      {confirmDelete && (
        <ConfirmDialog
          title="Delete this message?"
          text={`The message by ${author} is removed for everyone.`}
          confirm="Delete"
          danger
          onConfirm={() => void deleteMessage(roomId, m.id)}
          onClose={() => setConfirmDelete(false)}
        />
      )}
    </li>
  );
});

export function PendingItem({ entry, me, grouped }: { entry: OutboxEntry; me: User | null; grouped: boolean }) {
  const failed = entry.state === "failed";
  return (
    <li
      className={`msg mine pending${failed ? " failed" : ""}${grouped ? " grouped" : ""}`}
      data-testid="message"
      data-state={entry.state}
      aria-label={`${me?.username ?? "You"}: ${entry.body} (${failed ? "not sent" : "sending"})`}
    >
      <div className="msg-gutter">{me && <Avatar user={me} />}</div>
      <div className="msg-main">
        <div className="msg-meta">
          <span className="msg-author" data-testid="author">
            {me?.username}
          </span>
          <span className="msg-status" data-testid="status">
            {failed ? `Not sent${entry.error ? ` — ${entry.error}` : ""}` : "Sending…"}
          </span>
        </div>
        <div className="msg-body" data-testid="body">
          {entry.body}
        </div>
        {/* Files (#12) */}
        {entry.attachments && <Attachments files={entry.attachments} />}
        {failed && (
          <div className="msg-retry">
            <button className="btn small primary" onClick={() => retrySend(entry.clientId)}>
              Retry
            </button>
            <button className="btn small ghost" onClick={() => discardSend(entry.clientId)}>
              Discard
            </button>
          </div>
        )}
      </div>
    </li>
  );
}

export function NoticeItem({ notice }: { notice: Notice }) {
  return (
    <li className="notice" data-testid="notice">
      <span>{notice.text}</span>
      <time dateTime={notice.at} title={exactTime(notice.at)}>
        {new Date(notice.at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}
      </time>
    </li>
  );
}
