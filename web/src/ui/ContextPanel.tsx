/**
 * "In context" (issue #11): a search result far back in a room opens here, beside the live room,
 * instead of paging the room's whole history into the browser. The panel loads one window
 * around the message (`?around=`), highlights it, and pages further either way on demand
 * (`?before=` up, `?after=` down). Escape or the close button closes it.
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { api, describe } from "../chat";
import { displayName, roomTitle } from "../names";
import type { Message } from "../protocol";
import { closeContext } from "../search";
import { useChat } from "../store";
import { exactTime, relativeTime } from "../time";
import { Avatar } from "./Avatar";
import { CloseIcon } from "./icons";
import { MessageText } from "./MessageExtras";
import { useNow } from "./useNow";

/** Messages per request, the window and each page after it. */
const PAGE = 50;
/** How near an end of the list (px) scrolling loads the next page there. */
const EDGE = 120;

type Window = { messages: Message[]; hasMore: boolean; hasNewer: boolean };

export function ContextPanel({ roomId, messageId }: { roomId: string; messageId: string }) {
  const room = useChat((s) => s.rooms[roomId]);
  const me = useChat((s) => s.me);
  const now = useNow(30_000);
  const [win, setWin] = useState<Window | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const scroll = useRef<HTMLDivElement>(null);
  // Set before older messages are put on top: the distance from the bottom to keep, so the
  // reader's place holds still.
  const keepFromBottom = useRef<number | null>(null);
  const centred = useRef(false);

  useEffect(() => {
    let live = true;
    api.messages(roomId, { around: messageId, limit: PAGE }).then(
      (page) => live && setWin({ messages: page.messages, hasMore: page.has_more, hasNewer: page.has_newer ?? false }),
      (err) => live && setError(describe(err)),
    );
    return () => {
      live = false;
    };
  }, [roomId, messageId]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !e.defaultPrevented && !document.querySelector("dialog[open]")) closeContext();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  useLayoutEffect(() => {
    const el = scroll.current;
    if (!el || !win) return;
    if (!centred.current) {
      centred.current = true;
      el.querySelector<HTMLElement>(`[data-id="${CSS.escape(messageId)}"]`)?.scrollIntoView({ block: "center" });
      return;
    }
    if (keepFromBottom.current !== null) {
      el.scrollTop = el.scrollHeight - keepFromBottom.current;
      keepFromBottom.current = null;
    }
  }, [win, messageId]);

  const load = useCallback(
    async (side: "older" | "newer") => {
      if (!win || busy || win.messages.length === 0) return;
      if (side === "older" ? !win.hasMore : !win.hasNewer) return;
      setBusy(true);
      try {
        if (side === "older") {
          const page = await api.messages(roomId, { before: win.messages[0].position, limit: PAGE });
          const el = scroll.current;
          if (el) keepFromBottom.current = el.scrollHeight - el.scrollTop;
          setWin((w) => w && { ...w, messages: [...fresh(page.messages, w.messages), ...w.messages], hasMore: page.has_more });
        } else {
          const page = await api.messages(roomId, { after: win.messages[win.messages.length - 1].position, limit: PAGE });
          setWin((w) => w && { ...w, messages: [...w.messages, ...fresh(page.messages, w.messages)], hasNewer: page.has_newer ?? false });
        }
        setError(null);
      } catch (err) {
        setError(describe(err));
      } finally {
        setBusy(false);
      }
    },
    [roomId, win, busy],
  );

  const onScroll = () => {
    const el = scroll.current;
    if (!el || !centred.current) return;
    if (el.scrollTop < EDGE) void load("older");
    else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE) void load("newer");
  };

  const where = room ? (room.kind === "direct" ? roomTitle(room, me) : `#${room.name}`) : "a room";
  return (
    <aside className="thread-panel context-panel" aria-label="Message in context" data-testid="context-panel">
      <div className="panel-head">
        <div>
          <h2>In context</h2>
          <span className="muted small" data-testid="context-room">
            {where}
          </span>
        </div>
        <button className="icon-btn" aria-label="Close context" onClick={closeContext}>
          <CloseIcon />
        </button>
      </div>
      <div className="thread-scroll" ref={scroll} onScroll={onScroll}>
        {error && <p className="form-error pad">{error}</p>}
        {!win && !error && <p className="muted small pad">Loading…</p>}
        {win?.hasMore && (
          <button className="btn ghost small load-replies" disabled={busy} onClick={() => void load("older")}>
            Older messages
          </button>
        )}
        <ol className="context-list">
          {win?.messages.map((m) => (
            <li
              key={m.id}
              className="msg thread-msg"
              data-testid="context-message"
              data-id={m.id}
              data-search-target={m.id === messageId ? "" : undefined}
              aria-current={m.id === messageId ? "true" : undefined}
            >
              <div className="msg-gutter">
                <Avatar user={m.author} />
              </div>
              <div className="msg-main">
                <div className="msg-meta">
                  <span className="msg-author">{displayName(m.author)}</span>
                  <time dateTime={m.created_at} title={exactTime(m.created_at)}>
                    {relativeTime(m.created_at, now)}
                  </time>
                </div>
                <div className="msg-body" data-testid="body">
                  <MessageText body={m.body} />
                  {m.edited_at && <span className="edited"> (edited)</span>}
                </div>
              </div>
            </li>
          ))}
        </ol>
        {win && win.messages.length === 0 && <p className="muted small pad">That message is no longer in the room.</p>}
        {win?.hasNewer && (
          <button className="btn ghost small load-replies" disabled={busy} onClick={() => void load("newer")}>
            Newer messages
          </button>
        )}
      </div>
    </aside>
  );
}

/** The messages of `page` the window doesn't hold yet (a message moved meanwhile may be in both). */
function fresh(page: Message[], held: Message[]): Message[] {
  const ids = new Set(held.map((m) => m.id));
  return page.filter((m) => !ids.has(m.id));
}
