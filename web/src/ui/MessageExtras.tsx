/**
 * Issue #10's parts of a message, kept out of MessageItem so its edits stay small: the formatted
 * body with "Show more", the quoted reply, the reactions row, the thread line, the pinned mark
 * and the extra toolbar buttons (reply, thread, react, pin).
 */
import { lazy, Suspense, useEffect, useMemo, useRef, useState, type CSSProperties, type RefObject } from "react";
import { COLLAPSE_LINES, previewText, roughLines } from "../texts";
import { displayName } from "../names";
import { extras, type Message, type User } from "../protocol";
import { relativeTime } from "../time";
import { FREQUENT_EMOJI, findMessage, jumpTo, openThread, setPinned, startReply, toggleReaction } from "../threads";
import { useChat } from "../store";
import { PinIcon, ReplyIcon, SmileIcon, ThreadIcon } from "./icons";

// The formatter and the emoji data are a separate chunk (most of #10's weight): the page shows
// plain text for the moment it takes to load, then formats. `preloadFormatting` starts it early.
const loadFormatting = () => import("../markdown");
const FormattedBody = lazy(loadFormatting);
const EmojiPicker = lazy(() => import("./EmojiPicker").then((m) => ({ default: m.EmojiPicker })));

export function preloadFormatting(): void {
  void loadFormatting();
}

/** The formatted body; a long one is cut at about 16 lines behind "Show more". */
export function MessageText({ body }: { body: string }) {
  const me = useChat((s) => s.me?.username);
  const long = useMemo(() => roughLines(body) > COLLAPSE_LINES, [body]);
  const [open, setOpen] = useState(false);
  return (
    <>
      <div className={`msg-text${long && !open ? " collapsed" : ""}`} data-testid="formatted">
        <Suspense fallback={<p className="plain-body">{body}</p>}>
          <FormattedBody body={body} me={me} />
        </Suspense>
      </div>
      {long && (
        <button className="show-more" aria-expanded={open} onClick={() => setOpen((o) => !o)} data-testid="show-more">
          {open ? "Show less" : "Show more"}
        </button>
      )}
    </>
  );
}

/** The quoted message above a reply; clicking it jumps to the original. */
export function ReplyQuote({ roomId, replyTo }: { roomId: string; replyTo: string }) {
  const original = useChat(() => findMessage(roomId, replyTo));
  return (
    <button
      className="reply-quote"
      data-testid="reply-quote"
      onClick={() => void jumpTo(roomId, replyTo)}
      title="Jump to the original message"
    >
      <span className="reply-arrow" aria-hidden="true">
        ↪
      </span>
      {original ? (
        <>
          <strong>{displayName(original.author)}</strong>
          <span className="reply-text">{previewText(original.body)}</span>
        </>
      ) : (
        <span className="reply-text muted">Reply to an earlier message</span>
      )}
    </button>
  );
}

/** Names of the people who reacted, for the tooltip ("alice, bob and 3 others"). */
function reactorNames(userIds: string[], meId: string | undefined, known: Record<string, User>): string {
  const names = userIds.map((id) => (id === meId ? "you" : known[id] ? displayName(known[id]) : "someone"));
  if (names.length <= 6) return names.join(", ");
  return `${names.slice(0, 5).join(", ")} and ${names.length - 5} others`;
}

/** Everyone whose name this room's client knows: members and the authors of loaded messages. */
function useKnownById(roomId: string): Record<string, User> {
  const members = useChat((s) => s.members[roomId]);
  const view = useChat((s) => s.views[roomId]);
  return useMemo(() => {
    const out: Record<string, User> = {};
    for (const m of Object.values(view?.messages ?? {})) out[m.author.id] = m.author;
    for (const m of members ?? []) out[m.user.id] = m.user;
    return out;
  }, [members, view]);
}

export function ReactionBar({ roomId, message }: { roomId: string; message: Message }) {
  if (extras(message).reactions.length === 0) return null;
  return <ReactionRow roomId={roomId} message={message} />;
}

function ReactionRow({ roomId, message }: { roomId: string; message: Message }) {
  const reactions = extras(message).reactions;
  const me = useChat((s) => s.me);
  const known = useKnownById(roomId);
  const [picking, setPicking] = useState(false);
  const [place, setPlace] = useState<CSSProperties | undefined>(undefined);
  const wrap = useRef<HTMLSpanElement>(null);
  useCloseOnOutsideClick(picking, wrap, () => setPicking(false));
  return (
    <div className="reactions" data-testid="reactions">
      {reactions.map((r) => {
        const mine = !!me && r.user_ids.includes(me.id);
        const who = reactorNames(r.user_ids, me?.id, known);
        return (
          <button
            key={r.emoji}
            className={`reaction${mine ? " mine" : ""}`}
            aria-pressed={mine}
            title={`${who} reacted with ${r.emoji}`}
            aria-label={`${r.emoji} ${r.count}: ${who}`}
            data-testid="reaction"
            data-emoji={r.emoji}
            onClick={() => void toggleReaction(roomId, message, r.emoji)}
          >
            <span className="reaction-emoji">{r.emoji}</span>
            <span className="reaction-count">{r.count}</span>
          </button>
        );
      })}
      <span className="picker-anchor" ref={wrap}>
        <button
          className="reaction add"
          aria-label="Add a reaction"
          title="Add a reaction"
          onClick={(e) => {
            setPlace(popoverPlace(e.currentTarget));
            setPicking((p) => !p);
          }}
        >
          +
        </button>
        {picking && (
          <div className="react-pop" style={place}>
            <Suspense fallback={null}>
              <EmojiPicker
                onPick={(emoji) => {
                  setPicking(false);
                  void toggleReaction(roomId, message, emoji);
                }}
                onClose={() => setPicking(false)}
                inline
              />
            </Suspense>
          </div>
        )}
      </span>
    </div>
  );
}

/** "3 replies, last 2m ago" under a thread's first message. */
export function ThreadLine({ roomId, message, now }: { roomId: string; message: Message; now: number }) {
  const thread = extras(message).thread;
  if (!thread || thread.reply_count === 0) return null;
  const n = thread.reply_count;
  return (
    <button className="thread-line" data-testid="thread-line" onClick={() => void openThread(roomId, message.id)}>
      <strong>
        {n} {n === 1 ? "reply" : "replies"}
      </strong>
      {thread.last_reply_at && <span className="muted">, last {relativeTime(thread.last_reply_at, now) === "now" ? "just now" : `${relativeTime(thread.last_reply_at, now)} ago`}</span>}
    </button>
  );
}

export function PinMark({ message }: { message: Message }) {
  if (!extras(message).pinned) return null;
  return (
    <span className="pin-mark" data-testid="pinned" title="Pinned to this room">
      <PinIcon size={11} /> <span>Pinned</span>
    </span>
  );
}

/** The reply / thread / react / pin buttons of the message toolbar. */
export function ExtraActions({
  roomId,
  message,
  tab,
  canPin,
  inThread = false,
}: {
  roomId: string;
  message: Message;
  tab: number;
  canPin: boolean;
  inThread?: boolean;
}) {
  const [picking, setPicking] = useState(false);
  const [place, setPlace] = useState<CSSProperties | undefined>(undefined);
  const pinned = extras(message).pinned;
  const wrap = useRef<HTMLSpanElement>(null);
  useCloseOnOutsideClick(picking, wrap, () => setPicking(false));
  return (
    <>
      <span className="picker-anchor" ref={wrap}>
        <button
          className="icon-btn"
          tabIndex={tab}
          aria-label="React"
          title="React"
          aria-expanded={picking}
          onClick={(e) => {
            setPlace(popoverPlace(e.currentTarget));
            setPicking((p) => !p);
          }}
        >
          <SmileIcon />
        </button>
        {picking && (
          <div className="react-pop" style={place} data-testid="react-pop">
            <div className="frequent" role="group" aria-label="Frequent reactions">
              {FREQUENT_EMOJI.map((e) => (
                <button
                  key={e}
                  className="emoji-btn"
                  aria-label={`React with ${e}`}
                  onClick={() => {
                    setPicking(false);
                    void toggleReaction(roomId, message, e);
                  }}
                >
                  {e}
                </button>
              ))}
            </div>
            <Suspense fallback={<p className="muted small">Loading emoji…</p>}>
              <EmojiPicker
                onPick={(emoji) => {
                  setPicking(false);
                  void toggleReaction(roomId, message, emoji);
                }}
                onClose={() => setPicking(false)}
                inline
              />
            </Suspense>
          </div>
        )}
      </span>
      {!inThread && (
        <>
          <button className="icon-btn" tabIndex={tab} aria-label="Reply" title="Reply" onClick={() => startReply(roomId, message.id)}>
            <ReplyIcon />
          </button>
          <button className="icon-btn" tabIndex={tab} aria-label="Reply in thread" title="Reply in thread" onClick={() => void openThread(roomId, message.id)}>
            <ThreadIcon />
          </button>
          {canPin && (
            <button
              className="icon-btn"
              tabIndex={tab}
              aria-label={pinned ? "Unpin" : "Pin"}
              title={pinned ? "Unpin from the room" : "Pin to the room"}
              onClick={() => void setPinned(roomId, message.id, !pinned)}
            >
              <PinIcon />
            </button>
          )}
        </>
      )}
    </>
  );
}

/** Whether this person's name (or @here/@room) is in the message: it gets highlighted. */
export function useMentionsMe(message: Message): boolean {
  const meId = useChat((s) => s.me?.id);
  return !!meId && extras(message).mentions.includes(meId);
}

/**
 * Where a reaction popover goes: fixed to the window (so the scrolling list doesn't clip it),
 * above its button when there is room, else below. On a phone the stylesheet places it instead.
 */
function popoverPlace(button: HTMLElement): CSSProperties | undefined {
  if (window.innerWidth <= 760) return undefined;
  const r = button.getBoundingClientRect();
  const left = Math.max(8, Math.min(r.right - 300, window.innerWidth - 308));
  return r.top > 380
    ? { position: "fixed", left, right: "auto", bottom: window.innerHeight - r.top + 6, top: "auto" }
    : { position: "fixed", left, right: "auto", top: r.bottom + 6, bottom: "auto" };
}

/** While `open`, a mouse press outside `wrap` calls `close`. */
function useCloseOnOutsideClick(open: boolean, wrap: RefObject<HTMLElement | null>, close: () => void): void {
  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (!wrap.current?.contains(e.target as Node)) close();
    };
    document.addEventListener("mousedown", onDown);
    return () => document.removeEventListener("mousedown", onDown);
  }, [open, wrap, close]);
}
