/**
 * The thread side panel (full screen on a phone): the first message, its replies live, and a
 * composer of its own. Escape or the close button closes it.
 */
import { useEffect, useLayoutEffect, useMemo, useRef } from "react";
import { displayName } from "../names";
import type { Message } from "../protocol";
import { useChat } from "../store";
import { closeThread, loadOlderReplies, sortedReplies } from "../threads";
import { exactTime, relativeTime } from "../time";
import { Avatar } from "./Avatar";
import { Composer } from "./Composer";
import { CloseIcon } from "./icons";
import { ExtraActions, MessageText, ReactionBar } from "./MessageExtras";
import { useNow } from "./useNow";

function ThreadMessage({ roomId, message: m, now, root = false }: { roomId: string; message: Message; now: number; root?: boolean }) {
  return (
    <li className={`msg thread-msg${root ? " root" : ""}`} data-testid={root ? "thread-root" : "thread-message"} data-id={m.id} tabIndex={-1}>
      <div className="msg-gutter">
        <Avatar user={m.author} />
      </div>
      <div className="msg-main">
        <div className="msg-meta">
          <span className="msg-author" data-testid="author">
            {displayName(m.author)}
          </span>
          <time dateTime={m.created_at} title={exactTime(m.created_at)}>
            {relativeTime(m.created_at, now)}
          </time>
        </div>
        <div className="msg-body" data-testid="body">
          <MessageText body={m.body} />
          {m.edited_at && <span className="edited"> (edited)</span>}
        </div>
        <ReactionBar roomId={roomId} message={m} />
      </div>
      <div className="msg-actions" role="toolbar" aria-label="Message actions">
        <ExtraActions roomId={roomId} message={m} tab={0} canPin={false} inThread />
      </div>
    </li>
  );
}

export function ThreadPanel({ roomId, rootId }: { roomId: string; rootId: string }) {
  const root = useChat((s) => s.views[roomId]?.messages[rootId]);
  const thread = useChat((s) => s.threads[rootId]);
  const outbox = useChat((s) => s.outbox);
  const me = useChat((s) => s.me);
  const now = useNow(30_000);
  const replies = useMemo(() => sortedReplies(thread), [thread]);
  const pending = outbox.filter((e) => e.threadId === rootId && !replies.some((m) => m.author.id === me?.id && m.client_id === e.clientId));
  const list = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !e.defaultPrevented && !document.querySelector("dialog[open]")) closeThread();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    document.getElementById("thread-composer-input")?.focus();
  }, [rootId]);

  const count = replies.length + pending.length;
  useLayoutEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count]);

  return (
    <aside className="thread-panel" aria-label="Thread" data-testid="thread-panel">
      <div className="panel-head">
        <h2>Thread</h2>
        <button className="icon-btn" aria-label="Close thread" title="Close (Esc)" onClick={closeThread}>
          <CloseIcon />
        </button>
      </div>
      <div className="thread-scroll" ref={list}>
        <ol className="message-list">
          {root ? (
            <ThreadMessage roomId={roomId} message={root} now={now} root />
          ) : (
            <li className="muted small thread-missing">The first message isn't loaded.</li>
          )}
          <li className="thread-count muted small">
            {thread?.loaded ? `${replies.length}${thread.hasMore ? "+" : ""} ${replies.length === 1 ? "reply" : "replies"}` : "Loading replies…"}
          </li>
          {thread?.hasMore && (
            <li>
              <button className="btn ghost small load-replies" disabled={thread.loadingOlder} onClick={() => void loadOlderReplies(rootId)}>
                Load earlier replies
              </button>
            </li>
          )}
          {replies.map((m) => (
            <ThreadMessage key={`c:${m.author.id}:${m.client_id}`} roomId={roomId} message={m} now={now} />
          ))}
          {pending.map((e) => (
            <li key={`c:${me?.id}:${e.clientId}`} className={`msg thread-msg pending${e.state === "failed" ? " failed" : ""}`} data-testid="thread-message" data-state={e.state}>
              <div className="msg-gutter">{me && <Avatar user={me} />}</div>
              <div className="msg-main">
                <div className="msg-meta">
                  <span className="msg-author">{me?.username}</span>
                  <span className="msg-status">{e.state === "failed" ? `Not sent${e.error ? ` — ${e.error}` : ""}` : "Sending…"}</span>
                </div>
                <div className="msg-body" data-testid="body">
                  {e.body}
                </div>
              </div>
            </li>
          ))}
        </ol>
      </div>
      <Composer roomId={roomId} roomName="" threadId={rootId} />
    </aside>
  );
}
