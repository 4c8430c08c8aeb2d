/**
 * One room's messages as the client holds them, and the pure functions that change them.
 * No I/O here: the store calls these, the unit tests call them directly.
 *
 * Messages are shown in `position` order (plain string comparison, the same order as the
 * server's), never in time order. Optimistic changes (a move, an edit, a delete the server has
 * not confirmed yet) are kept apart from the confirmed state and laid over it for display, so an
 * event from the server always lands on the truth and a refused change simply disappears.
 */
import { actorName, displayName } from "./names";
import { extras, type FileInfo, type Message, type MessageExtras, type RoomEvent as Event, type ThreadSummary, type User } from "./protocol";
import { formatDuration } from "./slash";

export type Notice = {
  id: string;
  /** Shown after this message; null: at the top. */
  afterId: string | null;
  text: string;
  at: string;
};

export type Optimistic = {
  /** Moved after this message (null: to the top). */
  after?: string | null;
  body?: string;
  hidden?: boolean;
};

export type RoomView = {
  roomId: string;
  messages: Record<string, Message>;
  notices: Notice[];
  /** Older messages exist above the first loaded one. */
  hasMore: boolean;
  loaded: boolean;
  loadingOlder: boolean;
  /** The seq of the last event applied. */
  seq: number;
  online: User[];
  /** How many are online, for a room followed by counts (its `online` is then empty); else null. */
  onlineCount: number | null;
  /** user id → until (ms since epoch) */
  typing: Record<string, { user: User; until: number }>;
  optimistic: Record<string, Optimistic>;
};

export type OutboxEntry = {
  clientId: string;
  roomId: string;
  body: string;
  createdAt: string;
  state: "pending" | "failed";
  error?: string;
  /** #10: the message this one answers, and the thread it belongs to. */
  replyTo?: string;
  threadId?: string;
  /** Files (#12) the message carries, already uploaded. */
  attachments?: FileInfo[];
};

export type DisplayItem =
  | { type: "message"; key: string; message: Message }
  | { type: "pending"; key: string; entry: OutboxEntry }
  | { type: "notice"; key: string; notice: Notice };

/** How many are online in a followed room. */
export function onlineCountOf(view: Pick<RoomView, "online" | "onlineCount">): number {
  return view.onlineCount ?? view.online.length;
}

export function emptyView(roomId: string): RoomView {
  return {
    roomId,
    messages: {},
    notices: [],
    hasMore: false,
    loaded: false,
    loadingOlder: false,
    seq: 0,
    online: [],
    onlineCount: null,
    typing: {},
    optimistic: {},
  };
}

export function comparePositions(a: Message, b: Message): number {
  if (a.position < b.position) return -1;
  if (a.position > b.position) return 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The confirmed messages in display order. */
export function sortedMessages(view: RoomView): Message[] {
  return Object.values(view.messages).sort(comparePositions);
}

/** The id of the message just before `messageId` in the room's order ("" at the top, undefined
 * when it isn't loaded): a move that changes it is one people can see (a respacing doesn't). */
export function previousId(view: RoomView | undefined, messageId: string): string | undefined {
  if (!view?.messages[messageId]) return undefined;
  const sorted = sortedMessages(view).filter((m) => !m.thread_id);
  const at = sorted.findIndex((m) => m.id === messageId);
  return at > 0 ? sorted[at - 1].id : "";
}

/** A fresh snapshot of the newest page (first load or resync). Optimistic state survives. */
export function loadLatest(view: RoomView, messages: Message[], hasMore: boolean, seq: number): RoomView {
  const byId: Record<string, Message> = {};
  for (const m of messages) byId[m.id] = m;
  // Live events keep arriving while the page is on its way: keep the messages they brought that
  // are newer than the page (its seq), or a message sent just as the room opened would vanish.
  for (const m of Object.values(view.messages)) if (m.seq > seq && !byId[m.id]) byId[m.id] = m;
  return { ...view, messages: byId, hasMore, loaded: true, seq: Math.max(view.seq, seq) };
}

/** Older messages loaded above the current ones. */
export function prependOlder(view: RoomView, messages: Message[], hasMore: boolean): RoomView {
  const byId = { ...view.messages };
  for (const m of messages) if (!byId[m.id]) byId[m.id] = m;
  return { ...view, messages: byId, hasMore, loadingOlder: false };
}

/** Insert or replace a message confirmed by the server (ack or REST answer). */
export function upsertMessage(view: RoomView, message: Message): RoomView {
  return { ...view, messages: { ...view.messages, [message.id]: message } };
}

const MAX_NOTICES = 100;

function lastMessageId(view: RoomView): string | null {
  const all = sortedMessages(view);
  return all.length ? all[all.length - 1].id : null;
}

function addNotice(view: RoomView, event: Event, text: string, afterId = lastMessageId(view)): RoomView {
  const notice: Notice = { id: `n${event.seq}`, afterId, text, at: event.at };
  return { ...view, notices: [...view.notices, notice].slice(-MAX_NOTICES) };
}

function withoutOptimistic(view: RoomView, messageId: string, field: keyof Optimistic): RoomView {
  const current = view.optimistic[messageId];
  if (!current || !(field in current)) return view;
  const next = { ...current };
  delete next[field];
  const optimistic = { ...view.optimistic };
  if (Object.keys(next).length === 0) delete optimistic[messageId];
  else optimistic[messageId] = next;
  return { ...view, optimistic };
}

/**
 * Apply one room event (already in seq order, exactly once). Every event states absolute
 * facts (the whole message, the new position), so applying an event the snapshot already
 * reflects is harmless.
 */
export function applyEvent(view: RoomView, event: Event): RoomView {
  let next: RoomView = { ...view, seq: Math.max(view.seq, event.seq) };
  switch (event.kind) {
    case "message.created": {
      const m = event.message;
      const threadId = extras(m).thread_id;
      if (threadId) return bumpThread(next, threadId, m, (event as { thread?: ThreadSummary }).thread);
      next = upsertMessage(next, m);
      if (next.typing[m.author.id]) {
        const typing = { ...next.typing };
        delete typing[m.author.id];
        next = { ...next, typing };
      }
      return next;
    }
    case "message.edited": {
      const m = event.message;
      if (!next.messages[m.id] || extras(m).thread_id) return next;
      return withoutOptimistic(upsertMessage(next, m), m.id, "body");
    }
    case "message.deleted": {
      // A thread reply's deletion carries its root's new summary.
      const thread = event as { thread_id?: string; thread?: ThreadSummary };
      if (thread.thread_id) return setThreadSummary(next, thread.thread_id, thread.thread ?? null);
      if (!next.messages[event.message_id]) return next;
      const messages = { ...next.messages };
      delete messages[event.message_id];
      const optimistic = { ...next.optimistic };
      delete optimistic[event.message_id];
      return { ...next, messages, optimistic };
    }
    case "message.moved": {
      const existing = next.messages[event.message_id];
      next = withoutOptimistic(next, event.message_id, "after");
      if (!existing) return next;
      // Moved above everything loaded while older pages exist: it now lives up there.
      const first = sortedMessages(next)[0];
      if (next.hasMore && first && event.position < first.position) {
        const messages = { ...next.messages };
        delete messages[event.message_id];
        return { ...next, messages };
      }
      return upsertMessage(next, { ...existing, position: event.position });
    }
    case "room.cleared":
      next = { ...next, messages: {}, hasMore: false, optimistic: {}, notices: [] };
      return addNotice(next, event, `${event.by.username} cleared the room`, null);
    case "member.joined":
      return addNotice(next, event, `${event.user.username} joined`);
    case "member.left":
      return addNotice(next, event, `${event.user.username} left`);
    case "room.updated":
    case "room.deleted":
      return next;
    case "reaction.added":
    case "reaction.removed":
    case "message.pinned":
    case "message.unpinned": {
      const m = next.messages[event.message_id];
      return m ? upsertMessage(next, applyToMessage(m, event)) : next;
    }
    default: {
      // Moderation events leave a quiet line; a kind this build doesn't know leaves nothing.
      const text = moderationText(event);
      return text ? addNotice(next, event, text) : next;
    }
  }
}

const ROLE_WORDS: Record<string, string> = {
  owner: "the owner",
  admin: "an admin",
  moderator: "a moderator",
  member: "a member",
};

/** "for 10 minutes" from an event's time and its `expires_at`; "" for good. */
function forHowLong(at: string, expiresAt: string | null | undefined): string {
  if (!expiresAt) return "";
  // The two instants are taken a moment apart on the server: round to the minute past two.
  const raw = (Date.parse(expiresAt) - Date.parse(at)) / 1000;
  const secs = raw >= 120 ? Math.round(raw / 60) * 60 : Math.round(raw);
  return Number.isFinite(secs) && secs > 0 ? ` for ${formatDuration(secs)}` : "";
}

/** The quiet line a moderation event leaves in the timeline, or null for other kinds. */
export function moderationText(event: Event): string | null {
  switch (event.kind) {
    case "member.role_changed":
      return `${actorName(event.by)} made ${displayName(event.user)} ${ROLE_WORDS[event.role] ?? event.role}`;
    case "member.kicked":
      return `${actorName(event.by)} removed ${displayName(event.user)}`;
    case "member.banned":
      return `${actorName(event.by)} banned ${displayName(event.user)}${forHowLong(event.at, event.expires_at)}`;
    case "member.unbanned":
      return `${actorName(event.by)} lifted the ban on ${displayName(event.user)}`;
    case "member.muted":
      return `${actorName(event.by)} muted ${displayName(event.user)}${forHowLong(event.at, event.expires_at)}`;
    case "member.unmuted":
      return `${actorName(event.by)} unmuted ${displayName(event.user)}`;
    default:
      return null;
  }
}

export function setOptimistic(view: RoomView, messageId: string, patch: Optimistic): RoomView {
  return {
    ...view,
    optimistic: { ...view.optimistic, [messageId]: { ...view.optimistic[messageId], ...patch } },
  };
}

export function clearOptimistic(view: RoomView, messageId: string, field: keyof Optimistic): RoomView {
  return withoutOptimistic(view, messageId, field);
}

/** Messages as the person should see them: confirmed order with unconfirmed changes laid over. */
export function displayMessages(view: RoomView): Message[] {
  let list = sortedMessages(view);
  const opt = view.optimistic;
  if (Object.keys(opt).length === 0) return list;
  list = list
    .filter((m) => !opt[m.id]?.hidden)
    .map((m) => (opt[m.id]?.body !== undefined ? { ...m, body: opt[m.id].body as string } : m));
  for (const [id, o] of Object.entries(opt)) {
    if (o.after === undefined) continue;
    const from = list.findIndex((m) => m.id === id);
    if (from < 0) continue;
    const [moving] = list.splice(from, 1);
    const to = o.after === null ? 0 : list.findIndex((m) => m.id === o.after) + 1;
    if (o.after !== null && to === 0) {
      list.splice(from, 0, moving); // the anchor is gone: leave it where it was
      continue;
    }
    list.splice(to, 0, moving);
  }
  return list;
}

/**
 * Everything shown in the conversation, top to bottom: messages, the notices anchored to them,
 * then this room's unsent messages. An outbox entry whose message is already here (by client_id
 * of mine) is not shown twice.
 */
export function displayItems(view: RoomView, outbox: OutboxEntry[], me: User | null): DisplayItem[] {
  const messages = displayMessages(view);
  const items: DisplayItem[] = [];
  const noticesAfter = new Map<string | null, Notice[]>();
  const present = new Set(messages.map((m) => m.id));
  for (const n of view.notices) {
    const key = n.afterId !== null && present.has(n.afterId) ? n.afterId : n.afterId === null ? null : undefined;
    if (key === undefined) continue;
    const list = noticesAfter.get(key) ?? [];
    list.push(n);
    noticesAfter.set(key, list);
  }
  for (const n of noticesAfter.get(null) ?? []) items.push({ type: "notice", key: n.id, notice: n });
  const mine = new Set<string>();
  for (const m of messages) {
    // Keyed by author and client_id so a pending line turns into its message without remounting.
    items.push({ type: "message", key: `c:${m.author.id}:${m.client_id}`, message: m });
    if (me && m.author.id === me.id) mine.add(m.client_id);
    for (const n of noticesAfter.get(m.id) ?? []) items.push({ type: "notice", key: n.id, notice: n });
  }
  for (const entry of outbox) {
    if (entry.roomId !== view.roomId || entry.threadId || mine.has(entry.clientId)) continue;
    items.push({ type: "pending", key: `c:${me?.id ?? ""}:${entry.clientId}`, entry });
  }
  return items;
}

/** The message after which `messageId` lands when moved to `toIndex` of `list` (null: top). */
export function afterForMove(list: Message[], messageId: string, toIndex: number): string | null | undefined {
  const from = list.findIndex((m) => m.id === messageId);
  if (from < 0 || toIndex < 0 || toIndex >= list.length || from === toIndex) return undefined;
  const without = list.filter((m) => m.id !== messageId);
  return toIndex === 0 ? null : without[toIndex - 1].id;
}

/** Messages from others the person has not seen yet. */
export function unreadCount(view: RoomView | undefined, readSeq: number, me: User | null): number {
  if (!view) return 0;
  let n = 0;
  for (const m of Object.values(view.messages)) if (m.seq > readSeq && m.author.id !== me?.id) n += 1;
  return n;
}

// ---- issue #10: threads, reactions, pins ----------------------------------------------------

/**
 * A reply landed in a thread: the root (when loaded) takes the summary the event carries, or
 * counts it when the event carries none.
 */
function bumpThread(view: RoomView, rootId: string, reply: Message, summary?: ThreadSummary): RoomView {
  const root = view.messages[rootId];
  if (!root) return view;
  const thread = extras(root).thread;
  return setThreadSummary(view, rootId, summary ?? { reply_count: (thread?.reply_count ?? 0) + 1, last_reply_at: reply.created_at });
}

function setThreadSummary(view: RoomView, rootId: string, summary: ThreadSummary | null): RoomView {
  const root = view.messages[rootId];
  if (!root) return view;
  const thread = summary && summary.reply_count > 0 ? summary : null;
  return upsertMessage(view, { ...root, thread } as Message);
}

/** One reaction or pin event applied to the message it names. */
export function applyToMessage(m: Message, event: Event): Message {
  switch (event.kind) {
    case "reaction.added":
    case "reaction.removed":
      return withReaction(m, event.emoji, event.user.id, event.kind === "reaction.added");
    case "message.pinned":
    case "message.unpinned":
      return { ...m, pinned: event.kind === "message.pinned" } as Message;
    default:
      return m;
  }
}

/** The message with `userId`'s `emoji` reaction added or removed (a repeat changes nothing). */
export function withReaction(m: Message, emoji: string, userId: string, add: boolean): Message {
  const reactions = [...extras(m).reactions];
  const at = reactions.findIndex((r) => r.emoji === emoji);
  const current = at >= 0 ? reactions[at] : { emoji, count: 0, user_ids: [] as string[] };
  const has = current.user_ids.includes(userId);
  if (add === has) return m;
  const user_ids = add ? [...current.user_ids, userId] : current.user_ids.filter((id) => id !== userId);
  const count = Math.max(0, current.count + (add ? 1 : -1));
  if (count === 0) reactions.splice(at, 1);
  else if (at >= 0) reactions[at] = { emoji, count, user_ids };
  else reactions.push({ emoji, count, user_ids });
  return { ...m, reactions } as Message & MessageExtras;
}

/** The replies of one open thread, as loaded (the root lives in its room's view). */
export type ThreadView = {
  roomId: string;
  rootId: string;
  messages: Record<string, Message>;
  hasMore: boolean;
  loaded: boolean;
  loadingOlder: boolean;
};

export function emptyThread(roomId: string, rootId: string): ThreadView {
  return { roomId, rootId, messages: {}, hasMore: false, loaded: false, loadingOlder: false };
}

/** A room event applied to a thread's replies (only the events about them change anything). */
export function applyThreadEvent(thread: ThreadView, event: Event): ThreadView {
  switch (event.kind) {
    case "message.created":
    case "message.edited": {
      const m = event.message;
      if (extras(m).thread_id !== thread.rootId) return thread;
      if (event.kind === "message.edited" && !thread.messages[m.id]) return thread;
      return { ...thread, messages: { ...thread.messages, [m.id]: m } };
    }
    case "message.deleted": {
      if (!thread.messages[event.message_id]) return thread;
      const messages = { ...thread.messages };
      delete messages[event.message_id];
      return { ...thread, messages };
    }
    case "reaction.added":
    case "reaction.removed":
    case "message.pinned":
    case "message.unpinned": {
      const m = thread.messages[event.message_id];
      return m ? { ...thread, messages: { ...thread.messages, [m.id]: applyToMessage(m, event) } } : thread;
    }
    case "room.cleared":
      return { ...thread, messages: {}, hasMore: false };
    default:
      return thread;
  }
}

/** The first message after `lastReadSeq` written by someone else: where "New" goes. */
export function firstUnreadId(messages: Message[], lastReadSeq: number | null | undefined, me: User | null): string | null {
  if (lastReadSeq === null || lastReadSeq === undefined) return null;
  const first = messages.find((m) => m.seq > lastReadSeq && m.author.id !== me?.id);
  return first ? first.id : null;
}
