/**
 * Issue #10's message actions: replies, threads, reactions, pins, and jumping to a message.
 * Like `people.ts`, they use the controller's REST client and keep the store right; the live
 * events that confirm them come through `chat.ts`, which hands the thread ones to
 * `onThreadEvent` here.
 */
import { api, describe, loadOlder, sendMessage, toast } from "./chat";
import { extras, type FileInfo, type Message, type Room, type RoomEvent as Event } from "./protocol";
import { applyThreadEvent, comparePositions, emptyThread, withReaction, type ThreadView } from "./roomState";
import { useChat } from "./store";

const set = useChat.setState;
const get = useChat.getState;

// ---- replies --------------------------------------------------------------------------------

export function startReply(roomId: string, messageId: string): void {
  set((s) => ({ replyTo: { ...s.replyTo, [roomId]: messageId } }));
  requestAnimationFrame(() => document.getElementById("composer-input")?.focus());
}

export function cancelReply(roomId: string): void {
  set((s) => {
    const replyTo = { ...s.replyTo };
    delete replyTo[roomId];
    return { replyTo };
  });
}

/** Send from the room's composer: a reply when one is being written. */
export function sendFromComposer(roomId: string, text: string, attachments: FileInfo[] = []): boolean {
  const replyTo = get().replyTo[roomId];
  const ok = sendMessage(roomId, text, replyTo ? { reply_to: replyTo } : undefined, attachments);
  if (ok && replyTo) cancelReply(roomId);
  return ok;
}

/** The message a reply quotes, when loaded (room history, or an open thread). */
export function findMessage(roomId: string, messageId: string): Message | undefined {
  const s = get();
  const inRoom = s.views[roomId]?.messages[messageId];
  if (inRoom) return inRoom;
  for (const t of Object.values(s.threads)) if (t.roomId === roomId && t.messages[messageId]) return t.messages[messageId];
  return undefined;
}

/**
 * Scroll to a message and flash it, loading older history until it is there (at most 40 pages).
 * A reply inside a thread opens the thread instead.
 */
export async function jumpTo(roomId: string, messageId: string): Promise<void> {
  for (let page = 0; page < 40; page++) {
    const view = get().views[roomId];
    if (!view) return;
    if (view.messages[messageId]) {
      window.dispatchEvent(new CustomEvent("palaver:jump", { detail: { roomId, messageId } }));
      return;
    }
    if (!view.hasMore) break;
    await loadOlder(roomId);
    // loadOlder returns early while another load runs: wait for it instead of spinning.
    while (get().views[roomId]?.loadingOlder) await new Promise((r) => setTimeout(r, 50));
  }
  toast("That message isn't here any more");
}

// ---- threads --------------------------------------------------------------------------------

export function sortedReplies(thread: ThreadView | undefined): Message[] {
  return thread ? Object.values(thread.messages).sort(comparePositions) : [];
}

export async function openThread(roomId: string, rootId: string): Promise<void> {
  set((s) => ({
    thread: { roomId, rootId },
    pinsOpen: false,
    threads: { ...s.threads, [rootId]: s.threads[rootId] ?? emptyThread(roomId, rootId) },
  }));
  try {
    const page = await api.thread(roomId, rootId, { limit: 50 });
    set((s) => {
      const current = s.threads[rootId] ?? emptyThread(roomId, rootId);
      const messages = { ...current.messages };
      for (const m of page.messages) messages[m.id] = m;
      return { threads: { ...s.threads, [rootId]: { ...current, messages, hasMore: page.has_more, loaded: true } } };
    });
  } catch (err) {
    toast(`Couldn't load the thread: ${describe(err)}`);
    set((s) => {
      const current = s.threads[rootId];
      return current ? { threads: { ...s.threads, [rootId]: { ...current, loaded: true } } } : s;
    });
  }
}

export function closeThread(): void {
  const thread = get().thread;
  set((s) => {
    const threads = { ...s.threads };
    if (thread) delete threads[thread.rootId];
    return { thread: null, threads };
  });
}

export async function loadOlderReplies(rootId: string): Promise<void> {
  const thread = get().threads[rootId];
  const first = sortedReplies(thread)[0];
  if (!thread || !thread.hasMore || thread.loadingOlder || !first) return;
  const patch = (p: Partial<ThreadView>) =>
    set((s) => (s.threads[rootId] ? { threads: { ...s.threads, [rootId]: { ...s.threads[rootId], ...p } } } : s));
  patch({ loadingOlder: true });
  try {
    const page = await api.thread(thread.roomId, rootId, { before: first.position, limit: 50 });
    const current = get().threads[rootId];
    if (!current) return;
    const messages = { ...current.messages };
    for (const m of page.messages) if (!messages[m.id]) messages[m.id] = m;
    patch({ messages, hasMore: page.has_more, loadingOlder: false });
  } catch (err) {
    patch({ loadingOlder: false });
    toast(describe(err));
  }
}

export function sendThreadReply(roomId: string, rootId: string, text: string, attachments: FileInfo[] = []): boolean {
  return sendMessage(roomId, text, { thread_id: rootId }, attachments);
}

/** A room event, for the open threads of that room. */
export function onThreadEvent(event: Event): void {
  const threads = get().threads;
  let changed = false;
  const next: Record<string, ThreadView> = {};
  for (const [id, t] of Object.entries(threads)) {
    const after = t.roomId === event.room_id ? applyThreadEvent(t, event) : t;
    if (after !== t) changed = true;
    next[id] = after;
  }
  if (event.kind === "message.deleted" && get().thread?.rootId === event.message_id) {
    set({ thread: null });
    toast("The thread's first message was deleted");
  }
  if (changed) set({ threads: next });
}

/** A sent thread reply was acknowledged: show it in its thread. True when it was one. */
export function onThreadDelivered(message: Message): boolean {
  const rootId = extras(message).thread_id;
  if (!rootId) return false;
  set((s) => {
    const t = s.threads[rootId];
    return t ? { threads: { ...s.threads, [rootId]: { ...t, messages: { ...t.messages, [message.id]: message } } } } : s;
  });
  return true;
}

// ---- reactions ------------------------------------------------------------------------------

/** The emoji offered first, before the picker. */
export const FREQUENT_EMOJI = ["👍", "❤️", "😂", "🎉", "👀", "🙏"];

/** Add or take back this person's reaction (the event from the server confirms it for everyone). */
export async function toggleReaction(roomId: string, message: Message, emoji: string): Promise<void> {
  const me = get().me;
  if (!me) return;
  const mine = extras(message).reactions.some((r) => r.emoji === emoji && r.user_ids.includes(me.id));
  const apply = (add: boolean) => patchMessage(roomId, message.id, (m) => withReaction(m, emoji, me.id, add));
  apply(!mine);
  try {
    if (mine) await api.unreact(roomId, message.id, emoji);
    else await api.react(roomId, message.id, emoji);
  } catch (err) {
    apply(mine);
    toast(`Couldn't react: ${describe(err)}`);
  }
}

/** Change one loaded message wherever it is shown (room history or a thread). */
function patchMessage(roomId: string, messageId: string, change: (m: Message) => Message): void {
  set((s) => {
    const out: Partial<typeof s> = {};
    const view = s.views[roomId];
    if (view?.messages[messageId]) {
      out.views = { ...s.views, [roomId]: { ...view, messages: { ...view.messages, [messageId]: change(view.messages[messageId]) } } };
    }
    for (const [id, t] of Object.entries(s.threads)) {
      if (t.messages[messageId]) {
        out.threads = { ...s.threads, [id]: { ...t, messages: { ...t.messages, [messageId]: change(t.messages[messageId]) } } };
      }
    }
    return out;
  });
}

// ---- pins -----------------------------------------------------------------------------------

export async function setPinned(roomId: string, messageId: string, pinned: boolean): Promise<void> {
  try {
    if (pinned) await api.pin(roomId, messageId);
    else await api.unpin(roomId, messageId);
  } catch (err) {
    toast(`Couldn't ${pinned ? "pin" : "unpin"}: ${describe(err)}`);
  }
}

export async function fetchPins(roomId: string): Promise<Message[]> {
  return api.pins(roomId);
}

/** Whether this person may pin in a room: moderators always; everyone when its `pins` says so. */
export function pinAllowed(room: Room | undefined, moderator: boolean): boolean {
  if (!room) return false;
  return moderator || room.pins === "anyone";
}

export function setPinsOpen(open: boolean): void {
  set({ pinsOpen: open, ...(open ? { thread: null } : {}) });
}

// ---- keyboard -------------------------------------------------------------------------------

/** ArrowUp in an empty composer: open the editor of this person's last message in the room. */
export function editLastMessage(roomId: string): boolean {
  const { me, views } = get();
  const view = views[roomId];
  if (!me || !view) return false;
  const mine = Object.values(view.messages)
    .filter((m) => m.author.id === me.id)
    .sort((a, b) => a.seq - b.seq);
  const last = mine[mine.length - 1];
  if (!last) return false;
  set({ editRequest: last.id });
  return true;
}

export function clearEditRequest(): void {
  set({ editRequest: null });
}
