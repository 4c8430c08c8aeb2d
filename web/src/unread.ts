/**
 * Issue #10's "what did I miss": unread and mention counts held by the server (GET /api/me/unread,
 * kept live from events and `read_marker` frames), marking read (PUT …/read, debounced), the
 * "New since you left" divider, desktop notifications with a per-room level, and Web Push.
 */
import { api, selectRoom } from "./chat";
import { displayName, roomTitle } from "./names";
import { extras, type Message, type NotificationLevel, type RoomEvent as Event, type UnreadEntry } from "./protocol";
import { unreadCount } from "./roomState";
import { readJson, readString, writeJson, writeString } from "./storage";
import { useChat, type ChatState } from "./store";

const set = useChat.setState;
const get = useChat.getState;

// ---- counts ---------------------------------------------------------------------------------

/** Counts asked for and not yet answered. */
let loading = 0;
/**
 * A message was counted here while counts were being asked for. The answer replaces the counts,
 * and the server may have taken it before that message was committed: the message would be lost
 * from the count. So the counts are asked for again once every answer is in (a message is
 * delivered after its commit, so a question asked after it arrived counts it).
 */
let countedWhileLoading = false;

/** Ask the server for every room's counts (at session start, and when a marker can't be applied). */
export async function loadUnread(): Promise<void> {
  loading += 1;
  try {
    const list = await api.unread();
    const unread: Record<string, UnreadEntry> = {};
    const levels: Record<string, NotificationLevel> = {};
    for (const e of list) {
      unread[e.room_id] = e;
      if (e.notifications) levels[e.room_id] = e.notifications;
    }
    set((s) => {
      // A room read here further than the server had counted when it answered (a read not yet
      // told, or told after the count was taken) keeps this browser's counts: the answer is
      // older than what the person has seen, and would bring read messages back as unread.
      for (const [roomId, local] of Object.entries(s.unread)) {
        const counted = unread[roomId];
        if (counted && local.last_read_seq > counted.last_read_seq) {
          unread[roomId] = { ...counted, last_read_seq: local.last_read_seq, unread: local.unread, mentions: local.mentions };
        }
      }
      // The server's levels are the truth; the ones set on this device fill in for older servers.
      return { unread, notifyLevels: { ...s.notifyLevels, ...levels } };
    });
    retellReads(list);
  } catch {
    // An older server: the counts fall back to what this browser has seen.
  } finally {
    loading -= 1;
    if (loading === 0 && countedWhileLoading) {
      countedWhileLoading = false;
      loadUnreadSoon();
    }
  }
}

const retold = new Set<string>();

/**
 * Reads this browser has seen (kept in its storage as the rooms were read) that the server has
 * not: the PUT sent as the previous page went away may land after this page asked for its counts,
 * or never (the tab was closed offline). They are told again, once per room and page, and the
 * counts asked for again when they have landed.
 */
function retellReads(list: UnreadEntry[]): void {
  const { readSeq } = get();
  const behind = list.filter((e) => (readSeq[e.room_id] ?? 0) > e.last_read_seq && !retold.has(e.room_id));
  if (behind.length === 0) return;
  for (const e of behind) retold.add(e.room_id);
  void Promise.allSettled(behind.map((e) => api.markRead(e.room_id, readSeq[e.room_id]))).then(() => loadUnread());
}

let refetch: ReturnType<typeof setTimeout> | null = null;
function loadUnreadSoon(): void {
  if (refetch) return;
  refetch = setTimeout(() => {
    refetch = null;
    void loadUnread();
  }, 300);
}

/** A room's unread and mention counts (the server's; this browser's count before it answers). */
export function roomCounts(s: ChatState, roomId: string): { unread: number; mentions: number } {
  const e = s.unread[roomId];
  if (e) return { unread: e.unread, mentions: e.mentions };
  return { unread: unreadCount(s.views[roomId], s.readSeq[roomId] ?? 0, s.me), mentions: 0 };
}

export function totalUnread(s: ChatState): number {
  return s.joined.reduce((n, id) => n + roomCounts(s, id).unread, 0);
}

function mentionsMe(m: Message): boolean {
  const me = get().me;
  return !!me && extras(m).mentions.includes(me.id);
}

/** A room event: a new message from someone else counts until the room is read. */
export function onUnreadEvent(event: Event, looking: boolean): void {
  if (event.kind !== "message.created") return;
  const m = event.message;
  const { me } = get();
  if (!me || m.author.id === me.id) return;
  maybeNotify(event.room_id, m, false);
  if (looking || extras(m).thread_id) return;
  set((s) => {
    const e = s.unread[event.room_id] ?? { room_id: event.room_id, last_read_seq: 0, unread: 0, mentions: 0 };
    if (m.seq <= e.last_read_seq) return s;
    if (loading > 0) countedWhileLoading = true;
    const next = { ...e, unread: e.unread + 1, mentions: e.mentions + (mentionsMe(m) ? 1 : 0) };
    return { unread: { ...s.unread, [event.room_id]: next } };
  });
}

/**
 * The socket is (back) up: the read markers it could not carry while it was down are asked for.
 * Another device may have read a room meanwhile; or this page's own read, sent as the previous
 * page went away, landed after this page fetched its counts and before its socket was up, and
 * its `read_marker` frame reached no socket. Only markers further than this browser's are taken
 * (a whole new count would count again the events this page has already applied).
 */
export async function catchUpReadMarkers(): Promise<void> {
  try {
    const list = await api.unread();
    for (const e of list) {
      const local = get().unread[e.room_id];
      if (local && e.last_read_seq > local.last_read_seq) onReadMarker(e.room_id, e.last_read_seq);
    }
  } catch {
    // Offline again, or an older server: the next hello asks again.
  }
}

/** This person read up to `seq` somewhere (another tab or device, or this one). */
export function onReadMarker(roomId: string, seq: number): void {
  const s = get();
  const e = s.unread[roomId];
  if (e && seq <= e.last_read_seq) return;
  const view = s.views[roomId];
  // Count what is left from the loaded messages; when older unread ones may be unloaded, ask.
  const all = view ? Object.values(view.messages) : [];
  const left = all.filter((m) => m.seq > seq && m.author.id !== s.me?.id);
  if (!view || (view.hasMore && !all.some((m) => m.seq <= seq))) loadUnreadSoon();
  set((st) => ({
    unread: {
      ...st.unread,
      [roomId]: { room_id: roomId, last_read_seq: seq, unread: left.length, mentions: left.filter(mentionsMe).length },
    },
  }));
}

const pendingRead = new Map<string, { seq: number; timer: ReturnType<typeof setTimeout> }>();

/** The person has seen the room up to `seq`: zero its counts now, tell the server shortly. */
export function noteRead(roomId: string, seq: number): void {
  const e = get().unread[roomId];
  if (!e || e.unread > 0 || e.mentions > 0 || e.last_read_seq < seq) {
    set((s) => ({
      unread: { ...s.unread, [roomId]: { room_id: roomId, last_read_seq: Math.max(seq, e?.last_read_seq ?? 0), unread: 0, mentions: 0 } },
    }));
  }
  if (e && seq <= e.last_read_seq) return;
  const pending = pendingRead.get(roomId);
  if (pending && pending.seq >= seq) return;
  if (pending) clearTimeout(pending.timer);
  const timer = setTimeout(() => {
    pendingRead.delete(roomId);
    // Outliving the page: a reload right after must not cancel it on its way.
    api.markRead(roomId, seq, true).catch(() => undefined);
  }, 400);
  pendingRead.set(roomId, { seq, timer });
}

/** The page is going away (a reload, a closed tab): the reads not yet told go now, in requests
 * that outlive the page; otherwise a room read just before a reload came back unread. */
export function flushReads(): void {
  for (const [roomId, { seq, timer }] of pendingRead) {
    clearTimeout(timer);
    api.markRead(roomId, seq, true).catch(() => undefined);
  }
  pendingRead.clear();
}

/** The room is being opened: remember where this person had read to, for the divider. */
export function captureDivider(roomId: string): void {
  const s = get();
  const e = s.unread[roomId];
  const marker = e ? (e.unread > 0 ? e.last_read_seq : null) : null;
  set((st) => {
    const divider = { ...st.divider };
    if (marker === null) delete divider[roomId];
    else divider[roomId] = marker;
    return { divider };
  });
}

// ---- notification levels --------------------------------------------------------------------

function levelsKey(userId: string): string {
  return `palaver.notify.${userId}`;
}

export function loadLevels(): void {
  const me = get().me;
  if (me) set({ notifyLevels: readJson<Record<string, NotificationLevel>>(levelsKey(me.id), {}) });
}

/** This person's level in a room: what they set, else "all" in conversations and "mentions" in rooms. */
export function levelOf(s: ChatState, roomId: string): NotificationLevel {
  return s.notifyLevels[roomId] ?? (s.rooms[roomId]?.kind === "direct" ? "all" : "mentions");
}

export async function setLevel(roomId: string, level: NotificationLevel): Promise<void> {
  const before = get().notifyLevels[roomId];
  set((s) => ({ notifyLevels: { ...s.notifyLevels, [roomId]: level } }));
  try {
    await api.setNotifications(roomId, level);
    const me = get().me;
    if (me) writeJson(levelsKey(me.id), get().notifyLevels);
  } catch {
    set((s) => {
      const notifyLevels = { ...s.notifyLevels };
      if (before) notifyLevels[roomId] = before;
      else delete notifyLevels[roomId];
      return { notifyLevels };
    });
  }
}

// ---- desktop notifications ------------------------------------------------------------------

const shown = new Set<string>();

function canNotify(): boolean {
  return typeof Notification !== "undefined" && Notification.permission === "granted";
}

/**
 * Show a desktop notification for a message, when the person isn't looking at its room and their
 * level asks for it. `mention` is true for the server's `notification` frame.
 */
export function maybeNotify(roomId: string, m: Message, mention: boolean): void {
  const s = get();
  const level = levelOf(s, roomId);
  if (level === "nothing") return;
  if (!mention && level !== "all") return;
  const looking = s.activeRoomId === roomId && document.visibilityState === "visible" && document.hasFocus();
  if (looking || !canNotify() || shown.has(m.id)) return;
  shown.add(m.id);
  if (shown.size > 500) shown.clear();
  const room = s.rooms[roomId];
  const title = `${displayName(m.author)}${room ? ` in ${room.kind === "direct" ? "a conversation" : `#${roomTitle(room, s.me)}`}` : ""}`;
  const body = m.body.length > 180 ? `${m.body.slice(0, 180)}…` : m.body;
  try {
    const n = new Notification(title, { body, tag: m.id, data: { room_id: roomId } });
    n.onclick = () => {
      window.focus();
      void selectRoom(roomId);
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker: push covers those.
  }
}

export function onNotification(roomId: string, message: Message): void {
  maybeNotify(roomId, message, true);
}

const PROMPT_KEY = "palaver.notify-prompt";

/** After the first message sent: offer notifications once, unless decided already. */
export function offerNotifications(): void {
  if (get().notifyPrompt || typeof Notification === "undefined") return;
  if (Notification.permission !== "default" || readString(PROMPT_KEY)) return;
  set({ notifyPrompt: true });
}

export function dismissNotifyPrompt(): void {
  writeString(PROMPT_KEY, "dismissed");
  set({ notifyPrompt: false });
}

export async function enableNotifications(): Promise<void> {
  set({ notifyPrompt: false });
  writeString(PROMPT_KEY, "asked");
  if (typeof Notification === "undefined") return;
  const answer = await Notification.requestPermission();
  if (answer === "granted") await subscribePush();
}

// ---- Web Push -------------------------------------------------------------------------------

function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function bytesToBase64Url(buf: ArrayBuffer | null): string {
  if (!buf) return "";
  let s = "";
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Register the service worker and, with permission, subscribe this device to push. */
export async function subscribePush(): Promise<void> {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !canNotify()) return;
  try {
    const reg = await navigator.serviceWorker.register("/sw.js");
    await navigator.serviceWorker.ready;
    const { public_key } = await api.pushKey();
    const key = base64UrlToBytes(public_key);
    let sub = await reg.pushManager.getSubscription();
    const current = sub?.options.applicationServerKey ? bytesToBase64Url(sub.options.applicationServerKey) : null;
    if (sub && current !== public_key) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    await api.pushSubscribe({
      endpoint: sub.endpoint,
      keys: { p256dh: bytesToBase64Url(sub.getKey("p256dh")), auth: bytesToBase64Url(sub.getKey("auth")) },
    });
  } catch {
    // No push service reachable (or none in this browser): in-page notifications still work.
  }
}

/** Wire the service worker's "open this room" (a notification was clicked) to the app. */
export function listenToServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.addEventListener("message", (ev: MessageEvent<{ type?: string; room_id?: string }>) => {
    if (ev.data?.type === "open-room" && ev.data.room_id && get().rooms[ev.data.room_id]) void selectRoom(ev.data.room_id);
  });
}

/** `?room=ID` (a push notification opened a new window): the room to open first. */
export function roomFromUrl(): string | null {
  const id = new URLSearchParams(location.search).get("room");
  return id && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
}

