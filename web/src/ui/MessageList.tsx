import {
  DndContext,
  KeyboardSensor,
  MouseSensor,
  TouchSensor,
  closestCenter,
  useSensor,
  useSensors,
  type Announcements,
  type DragEndEvent,
} from "@dnd-kit/core";
import { SortableContext, sortableKeyboardCoordinates, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { loadOlder, markRead, moveMessage, setRearranging } from "../chat";
import type { Message } from "../protocol";
import { afterForMove, displayItems, firstUnreadId } from "../roomState";
import { useSearch } from "../search";
import { useChat } from "../store";
import { MessageItem, NoticeItem, PendingItem } from "./MessageItem";
import { useNow } from "./useNow";
import { useTouchUi } from "./useTouch";

/** How many items are in the DOM when the person is at the bottom; scrolling up widens it. */
const WINDOW = 120;
const WINDOW_STEP = 80;
const GROUP_MS = 5 * 60 * 1000;

export function MessageList({ roomId, moderator, canPin = moderator }: { roomId: string; moderator: boolean; canPin?: boolean }) {
  const view = useChat((s) => s.views[roomId]);
  const outbox = useChat((s) => s.outbox);
  const me = useChat((s) => s.me);
  const rearrange = useChat((s) => s.rooms[roomId]?.rearrange ?? "anyone");
  const now = useNow(30_000);
  const items = useMemo(() => (view ? displayItems(view, outbox, me) : []), [view, outbox, me]);
  const messages = useMemo(
    () => items.flatMap((i) => (i.type === "message" ? [i.message] : [])),
    [items],
  );
  const [windowSize, setWindowSize] = useState(WINDOW);
  const shown = items.length > windowSize ? items.slice(items.length - windowSize) : items;
  const hiddenAbove = items.length - shown.length;

  const scrollRef = useRef<HTMLDivElement>(null);
  const contentRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const prepend = useRef<{ height: number; top: number; firstKey: string | undefined } | null>(null);
  const [lastSeenKey, setLastSeenKey] = useState<string | null>(null);

  const canMove = rearrange === "anyone" || (rearrange === "moderators" && moderator);
  // #15: on a touch screen the drag handles show only in "Rearrange" mode (from a message's sheet).
  const touch = useTouchUi();
  const rearranging = useChat((s) => s.rearranging === roomId) && touch && canMove;

  // ---- #10: "New since you left" and jumping to a replied-to message ----
  const dividerSeq = useChat((s) => s.divider[roomId]);
  const dividerId = useMemo(() => firstUnreadId(messages, dividerSeq, me), [messages, dividerSeq, me]);
  const [jump, setJump] = useState<string | null>(null);
  useEffect(() => {
    const onJump = (e: Event) => {
      const { roomId: r, messageId } = (e as CustomEvent<{ roomId: string; messageId: string }>).detail;
      if (r !== roomId) return;
      const at = items.findIndex((i) => i.type === "message" && i.message.id === messageId);
      if (at < 0) return;
      stick.current = false;
      if (items.length - at > windowSize) setWindowSize(items.length - at + 10);
      setJump(messageId);
    };
    window.addEventListener("palaver:jump", onJump);
    return () => window.removeEventListener("palaver:jump", onJump);
  }, [items, roomId, windowSize]);
  useEffect(() => {
    if (!jump) return;
    const el = scrollRef.current?.querySelector<HTMLElement>(`li.msg[data-id="${CSS.escape(jump)}"]`);
    if (!el) return;
    el.scrollIntoView({ block: "center" });
    el.classList.remove("flash");
    void el.offsetWidth; // restart the animation when jumping to the same message again
    el.classList.add("flash");
    el.focus({ preventScroll: true });
    const t = setTimeout(() => el.classList.remove("flash"), 2500);
    setJump(null);
    return () => clearTimeout(t);
  }, [jump, shown]);

  const scrollToBottom = useCallback(() => {
    const el = scrollRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  // Keep pinned to the bottom while content grows (new messages, late layout, images of text).
  useEffect(() => {
    const content = contentRef.current;
    if (!content || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => {
      if (stick.current) scrollToBottom();
    });
    ro.observe(content);
    return () => ro.disconnect();
  }, [scrollToBottom]);

  useEffect(() => {
    const onSent = () => {
      stick.current = true;
      setLastSeenKey(null);
      requestAnimationFrame(scrollToBottom);
    };
    window.addEventListener("palaver:sent", onSent);
    return () => window.removeEventListener("palaver:sent", onSent);
  }, [scrollToBottom]);

  const firstKey = shown[0]?.key;
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const p = prepend.current;
    if (p && p.firstKey !== firstKey) {
      el.scrollTop = p.top + (el.scrollHeight - p.height);
      prepend.current = null;
      return;
    }
    if (p && !view?.loadingOlder && hiddenAbove === 0 && !view?.hasMore) prepend.current = null;
    if (stick.current) scrollToBottom();
  }, [shown, firstKey, hiddenAbove, view?.loadingOlder, view?.hasMore, scrollToBottom]);

  function onScroll() {
    const el = scrollRef.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (atBottom !== stick.current) {
      stick.current = atBottom;
      setLastSeenKey(atBottom ? null : (items[items.length - 1]?.key ?? null));
      if (atBottom) {
        markRead(roomId);
        if (windowSize > WINDOW) setWindowSize(WINDOW);
      }
    }
    if (el.scrollTop < 150 && !prepend.current) {
      if (hiddenAbove > 0) {
        prepend.current = { height: el.scrollHeight, top: el.scrollTop, firstKey };
        setWindowSize((w) => w + WINDOW_STEP);
      } else if (view?.hasMore && !view.loadingOlder) {
        prepend.current = { height: el.scrollHeight, top: el.scrollTop, firstKey };
        setWindowSize((w) => w + WINDOW_STEP);
        void loadOlder(roomId);
      }
    }
  }

  const unseen = useMemo(() => {
    if (lastSeenKey === null) return 0;
    const at = items.findIndex((i) => i.key === lastSeenKey);
    let n = 0;
    for (let i = at + 1; i < items.length; i++) {
      const it = items[i];
      if (it.type === "message" && it.message.author.id !== me?.id) n++;
    }
    return n;
  }, [items, lastSeenKey, me?.id]);

  // Search (issue #11): scroll to the message a search result jumped to, and highlight it.
  const searchTarget = useSearch((s) => (s.target?.roomId === roomId ? s.target : null));
  useEffect(() => {
    if (!searchTarget) return;
    const index = items.findIndex((i) => i.type === "message" && i.message.id === searchTarget.messageId);
    if (index < 0) return;
    if (items.length - index > windowSize) {
      setWindowSize(items.length - index + WINDOW_STEP);
      return;
    }
    const el = scrollRef.current?.querySelector<HTMLElement>(`[data-id="${CSS.escape(searchTarget.messageId)}"]`);
    if (!el) return;
    stick.current = false;
    el.scrollIntoView({ block: "center" });
    el.setAttribute("data-search-target", "");
    useSearch.setState({ target: null });
    setTimeout(() => el.removeAttribute("data-search-target"), 8000);
  }, [searchTarget, items, windowSize]);

  const sensors = useSensors(
    useSensor(MouseSensor, { activationConstraint: { distance: 4 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 180, tolerance: 8 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );

  const messagesRef = useRef<Message[]>(messages);
  messagesRef.current = messages;
  const move = useCallback(
    (messageId: string, toIndex: number) => {
      const after = afterForMove(messagesRef.current, messageId, toIndex);
      if (after !== undefined) void moveMessage(roomId, messageId, after);
    },
    [roomId],
  );
  const moveBy = useCallback(
    (messageId: string, delta: number) => {
      const from = messagesRef.current.findIndex((m) => m.id === messageId);
      if (from >= 0) move(messageId, from + delta);
    },
    [move],
  );

  const [focusedId, setFocusedId] = useState<string | null>(null);
  const onFocusMessage = useCallback((id: string) => setFocusedId(id), []);
  const tabbableId =
    focusedId !== null && messages.some((m) => m.id === focusedId) ? focusedId : messages[messages.length - 1]?.id;

  function onDragEnd({ active, over }: DragEndEvent) {
    if (!over || active.id === over.id) return;
    const to = messagesRef.current.findIndex((m) => m.id === over.id);
    move(String(active.id), to);
  }

  const describeId = (id: unknown) => {
    const m = messagesRef.current.find((x) => x.id === id);
    const i = messagesRef.current.findIndex((x) => x.id === id);
    return m ? `message ${i + 1} by ${m.author.username}` : "message";
  };
  const announcements: Announcements = {
    onDragStart: ({ active }) => `Picked up ${describeId(active.id)}. Use arrow keys to move, space to drop.`,
    onDragOver: ({ active, over }) => (over ? `${describeId(active.id)} is over ${describeId(over.id)}.` : undefined),
    onDragEnd: ({ active, over }) => (over ? `Dropped ${describeId(active.id)} at the place of ${describeId(over.id)}.` : "Dropped."),
    onDragCancel: ({ active }) => `Moving ${describeId(active.id)} was cancelled.`,
  };

  const sortableIds = useMemo(
    () => shown.flatMap((i) => (i.type === "message" ? [i.message.id] : [])),
    [shown],
  );

  if (!view || !view.loaded) {
    return (
      <div className="messages loading" aria-busy="true">
        <div className="skeleton" />
        <div className="skeleton short" />
        <div className="skeleton" />
      </div>
    );
  }

  return (
    <div className="messages-wrap">
      {rearranging && (
        <div className="rearrange-bar" role="status" data-testid="rearrange-bar">
          <span>Drag a message by its handle, or use ↑ ↓</span>
          <button className="btn small primary" onClick={() => setRearranging(null)}>
            Done
          </button>
        </div>
      )}
      <div className="messages" ref={scrollRef} onScroll={onScroll} data-testid="messages">
        <div className="messages-spacer" aria-hidden="true" />
        {view.loadingOlder && <div className="loading-older">Loading earlier messages…</div>}
        {/* #15: one line for an empty room, not two with a gap between them. */}
        {!view.hasMore && hiddenAbove === 0 && (
          <div className="room-start" data-testid="room-start">
            <p className="muted">{items.length === 0 ? "No messages yet. Say hello!" : "This is the beginning of the room."}</p>
          </div>
        )}
        <DndContext
          sensors={sensors}
          collisionDetection={closestCenter}
          onDragEnd={onDragEnd}
          accessibility={{ announcements }}
        >
          <SortableContext items={sortableIds} strategy={verticalListSortingStrategy}>
            <ol
              className="message-list"
              ref={contentRef}
              aria-label="Messages (arrow keys move between messages, Alt+arrow moves one)"
            >
              {shown.map((item, i) => {
                if (item.type === "notice") return <NoticeItem key={item.key} notice={item.notice} />;
                if (item.type === "pending") {
                  return <PendingItem key={item.key} entry={item.entry} me={me} grouped={false} />;
                }
                const m = item.message;
                const prev = shown[i - 1];
                const grouped =
                  prev?.type === "message" &&
                  prev.message.author.id === m.author.id &&
                  Math.abs(Date.parse(m.created_at) - Date.parse(prev.message.created_at)) < GROUP_MS;
                const mine = m.author.id === me?.id;
                const message = (
                  <MessageItem
                    key={item.key}
                    message={m}
                    roomId={roomId}
                    mine={mine}
                    grouped={grouped}
                    canDelete={mine || moderator}
                    canMove={canMove}
                    canPin={canPin}
                    now={now}
                    tabbable={m.id === tabbableId}
                    onMoveBy={moveBy}
                    onFocusMessage={onFocusMessage}
                  />
                );
                if (m.id !== dividerId) return message;
                return [
                  <li key="new-divider" className="new-divider" data-testid="new-divider">
                    <span>New since you left</span>
                  </li>,
                  message,
                ];
              })}
            </ol>
          </SortableContext>
        </DndContext>
      </div>
      {unseen > 0 && (
        <button
          className="new-messages"
          data-testid="new-messages"
          onClick={() => {
            stick.current = true;
            setLastSeenKey(null);
            scrollRef.current?.scrollTo({ top: scrollRef.current.scrollHeight, behavior: "smooth" });
            markRead(roomId);
          }}
        >
          {unseen} new message{unseen === 1 ? "" : "s"} ↓
        </button>
      )}
    </div>
  );
}
