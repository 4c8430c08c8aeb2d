/**
 * The controller: the only writer of the store. It owns the REST client and the Connection,
 * persists what must survive a reload (outbox, read state, followed rooms, preferences) and talks
 * to the other tabs. Components call these functions and read the store; they never fetch.
 *
 * Over 500 lines because the session, the connection's news and the room actions share its
 * private state (the socket, the tabs channel); issue #9's actions live beside it in `people.ts`
 * (members, DMs, invites, moderation, commands) and `account.ts` (settings).
 */
import { Api, ApiError } from "./api";
import { Connection, type ConnectionSink, type SendExtra, type SocketLike } from "./connection";
import { attachCalls, detachCalls, onCallError, onCallSignal, onCallState, onReconnect, onRoomGone } from "./calls";
import { browserTimeZone, displayName, inviteCodeFromPath, roomTitle } from "./names";
import { friendlyError, mergeShared, removalText, roomDeletedText } from "./texts";
import { MAX_BODY_CHARS, type FileInfo, type Message, type RemovalReason, type Room, type RoomEvent as Event, type User } from "./protocol";
import {
  applyEvent,
  clearOptimistic,
  emptyView,
  loadLatest,
  prependOlder,
  previousId,
  setOptimistic,
  sortedMessages,
  upsertMessage,
  type OutboxEntry,
  type RoomView,
} from "./roomState";
import { forgetOfflineData, isControlled, registerServiceWorker } from "./offline";
import { chime } from "./sound";
import { keys, readJson, readString, writeJson, writeString } from "./storage";
import { initialState, useChat, type AppDialog, type ThemeChoice, type Toast } from "./store";
import { Tabs, type TabMessage } from "./tabs";
// ---- issue #10: threads, reactions, pins, unread, notifications (their own modules) ----
import { onThreadDelivered, onThreadEvent } from "./threads";
import {
  captureDivider,
  flushReads,
  listenToServiceWorker,
  loadLevels,
  loadUnread,
  catchUpReadMarkers,
  noteRead,
  offerNotifications,
  onNotification,
  onReadMarker,
  onUnreadEvent,
  roomFromUrl,
  subscribePush,
} from "./unread";

export const api = new Api();

/**
 * Rooms with more members than this are followed by counts: the socket says how many are online,
 * not who (a full list costs every member of a big room a frame naming everyone), and the people
 * panel shows who is online from the members list instead.
 */
export const PRESENCE_COUNTS_ABOVE = 250;
let conn: Connection | null = null;
let tabs: Tabs | null = null;
let toastSeq = 0;
let lastTypingSent = 0;

const set = useChat.setState;
const get = useChat.getState;

// ---- small helpers --------------------------------------------------------------------------

function updateView(roomId: string, change: (view: RoomView) => RoomView): void {
  set((s) => {
    const view = s.views[roomId];
    if (!view) return s;
    return { views: { ...s.views, [roomId]: change(view) } };
  });
}

/** toast id → what closing it early (×) does besides hiding it. */
const onToastDismissed = new Map<number, () => void>();

/** Show a toast for `ms`; returns its id. `action` is one button on it ("Undo"). */
export function toast(text: string, ms = 5000, action?: Toast["action"]): number {
  const id = ++toastSeq;
  set((s) => ({ toasts: [...s.toasts.slice(-3), { id, text, ...(action ? { action } : {}) }] }));
  setTimeout(() => hideToast(id), ms);
  return id;
}

function hideToast(id: number): void {
  onToastDismissed.delete(id);
  set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
}

/** The person closed a toast. */
export function dismissToast(id: number): void {
  const then = onToastDismissed.get(id);
  hideToast(id);
  then?.();
}

export function describe(err: unknown): string {
  if (err instanceof ApiError) return friendlyError(err.code, err.message);
  return "Something went wrong";
}

function saveOutbox(): void {
  const { me, outbox } = get();
  if (me) writeJson(keys.outbox(me.id), outbox);
}

function saveJoined(): void {
  const { me, joined } = get();
  if (me) writeJson(keys.joined(me.id), joined);
}

function newClientId(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function isVisible(): boolean {
  return typeof document === "undefined" || document.visibilityState === "visible";
}

// ---- preferences and tabs -------------------------------------------------------------------

export function applyTheme(theme: ThemeChoice): void {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

export function setTheme(theme: ThemeChoice, fromOtherTab = false): void {
  set({ theme });
  applyTheme(theme);
  writeString(keys.theme, theme === "system" ? null : theme);
  if (!fromOtherTab) tabs?.post({ type: "theme", theme });
}

export function setSound(on: boolean, fromOtherTab = false): void {
  set({ sound: on });
  writeString(keys.sound, on ? "on" : null);
  if (!fromOtherTab) tabs?.post({ type: "sound", on });
}

function onTabMessage(msg: TabMessage): void {
  switch (msg.type) {
    case "theme":
      setTheme(msg.theme, true);
      break;
    case "sound":
      setSound(msg.on, true);
      break;
    case "signout":
      if (get().me) endSession();
      break;
    case "signin":
      // The cookie is shared: another tab signing in may have made this tab someone else.
      void checkSession();
      break;
    case "read": {
      const { me, readSeq } = get();
      if (me?.id === msg.userId && (readSeq[msg.roomId] ?? 0) < msg.seq) {
        set({ readSeq: { ...readSeq, [msg.roomId]: msg.seq } });
      }
      // #10: the counts follow at once (the server's read_marker frame says the same, later).
      if (me?.id === msg.userId) onReadMarker(msg.roomId, msg.seq);
      break;
    }
  }
}

// ---- session --------------------------------------------------------------------------------

/** Called once at start-up. */
export async function init(): Promise<void> {
  const theme = (readString(keys.theme) as ThemeChoice | null) ?? "system";
  set({ theme, sound: readString(keys.sound) === "on", inviteCode: inviteCodeFromPath(location.pathname) });
  api.config().then(
    (config) => set({ config }),
    () => undefined, // an older server: the sign-in page just says less
  );
  applyTheme(theme);
  tabs = new Tabs(onTabMessage);
  listenToServiceWorker();
  registerServiceWorker(() => void keepOfflineCopy());
  window.addEventListener("online", () => conn?.nudge());
  document.addEventListener("visibilitychange", () => {
    if (isVisible()) {
      conn?.nudge();
      const active = get().activeRoomId;
      if (active) markRead(active);
    }
  });
  await checkSession();
}

/**
 * The service worker has just taken control (#15): ask again for what the screen shows — the
 * person, their rooms, each followed room's newest page — so the worker keeps a copy and the app
 * opens with it when there is no network. The answers are not used here.
 */
async function keepOfflineCopy(): Promise<void> {
  const { me, joined } = get();
  if (!me) return;
  await Promise.allSettled([
    api.me(),
    api.config(),
    api.rooms(),
    api.unread(),
    ...joined.flatMap((id) => [api.room(id), api.messages(id, { limit: 50 })]),
  ]);
}

let sessionRetries = 0;

/** Ask the server who we are; (re)start the session when that is someone new. */
async function checkSession(): Promise<void> {
  try {
    const me = await api.me();
    sessionRetries = 0;
    if (me.id !== get().me?.id) await startSession(me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      if (get().me) endSession();
      set({ authChecked: true });
      return;
    }
    set({ authChecked: true });
    if (sessionRetries === 0) toast("Can't reach the server. Retrying…");
    sessionRetries += 1;
    setTimeout(() => void checkSession(), Math.min(15_000, 1000 * 2 ** Math.min(sessionRetries, 4)));
  }
}

export async function signIn(mode: "guest" | "login" | "register", username: string, password: string): Promise<void> {
  const res =
    mode === "guest"
      ? await api.guest(username)
      : mode === "login"
        ? await api.login(username, password)
        : await api.register(username, password);
  await startSession(res.user);
  // #15: who is signed in came with the sign-in answer; ask once more for the service worker to
  // keep it, so the app opens offline as this person.
  if (isControlled()) void api.me().catch(() => undefined);
  if ("first_admin" in res && res.first_admin === true) set({ dialog: "welcome" });
  tabs?.post({ type: "signin" });
}

export async function signOut(): Promise<void> {
  try {
    await api.logout();
  } catch {
    // Signed out locally regardless; the cookie is HttpOnly and the server forgets it.
  }
  tabs?.post({ type: "signout" });
  endSession();
}

export function endSession(): void {
  followRoomListWhilePolling(false);
  forgetOfflineData();
  detachCalls();
  conn?.stop();
  conn = null;
  const { theme, sound, config, inviteCode } = get();
  set({ ...initialState, authChecked: true, theme, sound, config, inviteCode });
}

async function startSession(me: User): Promise<void> {
  conn?.stop();
  const outbox = readJson<OutboxEntry[]>(keys.outbox(me.id), []);
  set({
    me,
    authChecked: true,
    outbox,
    readSeq: readJson<Record<string, number>>(keys.read(me.id), {}),
    joined: [],
    views: {},
    activeRoomId: null,
    connection: "connecting",
  });
  // A test and troubleshooting hook: `?transport=poll` never opens a socket.
  const pollOnly = new URLSearchParams(location.search).get("transport") === "poll";
  conn = new Connection(
    {
      api,
      url: `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
      createSocket: (url) => {
        if (pollOnly) throw new Error("sockets disabled by ?transport=poll");
        return new WebSocket(url) as unknown as SocketLike;
      },
      isOnline: () => navigator.onLine !== false,
      failuresBeforePolling: pollOnly ? 1 : 2,
    },
    sink,
  );
  conn.start();
  // #13: calls ride this connection; a call this tab was in before a reload is joined again.
  attachCalls({ conn, api, me, isDirect: (id) => get().rooms[id]?.kind === "direct" });
  loadLevels();
  // #10: the server's unread counts, fetched before the rooms are followed so that the live
  // events after each room's snapshot add to them exactly once.
  const unreadLoaded = loadUnread();

  let rooms: Room[] = [];
  try {
    rooms = await api.rooms();
  } catch (err) {
    toast(describe(err));
  }
  const byId: Record<string, Room> = {};
  for (const r of rooms) byId[r.id] = r;
  const stored = readJson<string[] | null>(keys.joined(me.id), null);
  // A followed room the list lacks is gone (a 404) — or the list is the service worker's older
  // copy and this page is offline (#15): then its own copy of the room stands in.
  const missing = (stored ?? []).filter((id) => !byId[id]);
  for (const found of await Promise.allSettled(missing.map((id) => api.room(id)))) {
    if (found.status === "fulfilled") byId[found.value.id] = found.value;
  }
  rooms = [...rooms, ...missing.flatMap((id) => (byId[id] ? [byId[id]] : []))];
  let joined = (stored ?? []).filter((id) => byId[id]);
  if (stored === null || joined.length === 0) {
    const general = rooms.find((r) => r.name.toLowerCase() === "general" && r.kind !== "direct") ?? rooms[0];
    joined = general ? [general.id] : [];
  }
  // Private rooms and conversations are only listed to their members: always follow them. A
  // public room this person is a member of is followed too (#10: a new device shows its counts).
  for (const r of rooms) if (r.member && !joined.includes(r.id)) joined.push(r.id);
  for (const entry of outbox) if (byId[entry.roomId] && !joined.includes(entry.roomId)) joined.push(entry.roomId);
  const lastRoom = roomFromUrl() ?? readString(keys.lastRoom(me.id));
  const active = lastRoom && joined.includes(lastRoom) ? lastRoom : (joined[0] ?? null);
  // A room adopted while the list loaded (an invite accepted, a DM opened, a room_list frame) is
  // already followed: keep it, and the room the person opened meanwhile.
  set((s) => {
    const kept: Record<string, Room> = {};
    for (const id of s.joined) if (s.rooms[id] && !byId[id]) kept[id] = s.rooms[id];
    const all = [...joined, ...s.joined.filter((id) => !joined.includes(id))];
    const open = s.activeRoomId && all.includes(s.activeRoomId) ? s.activeRoomId : active;
    return { rooms: { ...byId, ...kept }, joined: all, activeRoomId: open };
  });
  saveJoined();
  conn.setFocus(get().activeRoomId);
  await unreadLoaded;
  await Promise.all(joined.filter((id) => !get().views[id]).map((id) => followRoom(id)));
  // Messages typed earlier (maybe in an earlier page load) go out again with the same client_id.
  for (const entry of get().outbox) {
    if (entry.state === "pending" && get().views[entry.roomId]) conn?.send(entry.roomId, entry.clientId, entry.body, extraOf(entry));
  }
  const opened = get().activeRoomId;
  if (opened) {
    captureDivider(opened);
    if (isVisible()) markRead(opened);
  }
  if (typeof Notification !== "undefined" && Notification.permission === "granted") void subscribePush();
  sendTimeZoneOnce(me);
}

/** Tell the server this browser's time zone once per account, so others see the person's local time. */
function sendTimeZoneOnce(me: User): void {
  const key = `palaver.tz.${me.id}`;
  if (readString(key)) return;
  const tz = browserTimeZone();
  if (!tz) return;
  void (async () => {
    try {
      const profile = await api.profile(me.id);
      if (!profile.timezone) await api.updateMe({ timezone: tz });
      writeString(key, "sent");
    } catch {
      // An older server or a hiccup: try again next session.
    }
  })();
}

/** Start following a room this person may now read (a DM opened, an invite accepted…). */
/** While polling, how often the room list is read again (no `room_list` frames come then). */
const POLLING_ROOM_LIST_MS = 30_000;
let roomListTimer: ReturnType<typeof setInterval> | null = null;

/**
 * Long polling carries each followed room's events, presence and typing, but not the socket's
 * `room_list` frames: read the list now and then instead, so new public rooms, invites and new
 * conversations still appear.
 */
function followRoomListWhilePolling(polling: boolean): void {
  if (!polling) {
    if (roomListTimer !== null) clearInterval(roomListTimer);
    roomListTimer = null;
    return;
  }
  if (roomListTimer !== null) return;
  roomListTimer = setInterval(() => void refreshRoomList(), POLLING_ROOM_LIST_MS);
}

async function refreshRoomList(): Promise<void> {
  let rooms: Room[];
  try {
    rooms = await api.rooms();
  } catch {
    return; // the next round tries again
  }
  for (const room of rooms) sink.roomList("updated", room);
}

export async function adoptRoom(room: Room, open: boolean): Promise<void> {
  set((s) => ({ rooms: { ...s.rooms, [room.id]: mergeShared(s.rooms[room.id], room) } }));
  if (!get().joined.includes(room.id)) {
    set((s) => ({ joined: [...s.joined, room.id] }));
    saveJoined();
    await followRoom(room.id);
  }
  if (open) await selectRoom(room.id);
}

/** The room's members, fresh from the server, into the store. */
export async function refreshMembers(roomId: string): Promise<void> {
  try {
    const members = await api.members(roomId);
    set((s) => ({ members: { ...s.members, [roomId]: members } }));
  } catch {
    // The panel keeps what it showed; the next member event tries again.
  }
}

const memberRefresh = new Map<string, ReturnType<typeof setTimeout>>();
function refreshMembersSoon(roomId: string): void {
  if (!get().members[roomId] || memberRefresh.has(roomId)) return;
  memberRefresh.set(
    roomId,
    setTimeout(() => {
      memberRefresh.delete(roomId);
      void refreshMembers(roomId);
    }, 250),
  );
}

/** Load a room's newest page and follow its events from exactly that point. */
async function followRoom(roomId: string): Promise<void> {
  set((s) => ({ views: { ...s.views, [roomId]: s.views[roomId] ?? emptyView(roomId) } }));
  try {
    const snapshot = await loadSnapshot(roomId);
    const big = (get().rooms[roomId]?.member_count ?? 0) > PRESENCE_COUNTS_ABOVE;
    conn?.subscribe(roomId, snapshot, big ? "counts" : "full");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.code === "banned")) {
      const room = get().rooms[roomId];
      if (err.code === "banned" && room) toast(`You are banned from ${roomTitle(room, get().me)}`);
      removeRoomLocally(roomId);
      return;
    }
    toast(`Couldn't load the room: ${describe(err)}`);
    setTimeout(() => {
      if (get().joined.includes(roomId) && conn && conn.lastSeq(roomId) === undefined) void followRoom(roomId);
    }, 3000);
  }
}

/** Replace the room's messages with its newest page; returns the seq the page is at least as new as. */
async function loadSnapshot(roomId: string): Promise<number> {
  const room = await api.room(roomId);
  const page = await api.messages(roomId, { limit: 50 });
  set((s) => ({ rooms: { ...s.rooms, [room.id]: room } }));
  updateView(roomId, (v) => loadLatest(v, page.messages, page.has_more, room.last_seq));
  if (room.kind === "direct" && !get().members[roomId]) void refreshMembers(roomId);
  dropDeliveredOutbox(roomId, page.messages);
  return room.last_seq;
}

function dropDeliveredOutbox(roomId: string, messages: Message[]): void {
  const me = get().me;
  if (!me) return;
  const delivered = new Set(messages.filter((m) => m.author.id === me.id).map((m) => m.client_id));
  const outbox = get().outbox;
  if (outbox.some((e) => e.roomId === roomId && delivered.has(e.clientId))) {
    set({ outbox: outbox.filter((e) => !(e.roomId === roomId && delivered.has(e.clientId))) });
    saveOutbox();
  }
}

export function removeRoomLocally(roomId: string, keepListed = false): void {
  onRoomGone(roomId);
  conn?.unsubscribe(roomId);
  set((s) => {
    const rooms = { ...s.rooms };
    if (keepListed && rooms[roomId]) rooms[roomId] = { ...rooms[roomId], member: false, my_role: null };
    else delete rooms[roomId];
    const views = { ...s.views };
    delete views[roomId];
    const members = { ...s.members };
    delete members[roomId];
    const joined = s.joined.filter((id) => id !== roomId);
    const activeRoomId = s.activeRoomId === roomId ? (joined[0] ?? null) : s.activeRoomId;
    const profile = s.profile?.roomId === roomId ? null : s.profile;
    return { rooms, views, members, joined, activeRoomId, profile, outbox: s.outbox.filter((e) => e.roomId !== roomId) };
  });
  conn?.setFocus(get().activeRoomId);
  saveJoined();
  saveOutbox();
}

// ---- the connection's news ------------------------------------------------------------------

const sink: ConnectionSink = {
  state: (connection) => {
    set({ connection });
    followRoomListWhilePolling(connection === "polling");
  },
  retryAt: (reconnectAt) => set({ reconnectAt }),
  hello: (user) => {
    // Another tab signed in as someone else (the cookie is shared): follow it.
    if (get().me && user.id !== get().me?.id) setTimeout(() => void checkSession(), 0);
    onReconnect();
    void catchUpReadMarkers();
  },
  event: (event) => onEvent(event),
  subscribed: (roomId, online, onlineCount) =>
    updateView(roomId, (v) => ({ ...v, online, onlineCount: onlineCount ?? null })),
  resync: async (roomId) => {
    try {
      await loadSnapshot(roomId);
    } catch (err) {
      toast(describe(err));
    }
  },
  ack: (clientId, message) => onDelivered(clientId, message),
  sendFailed: (clientId, code, message) => {
    const entry = get().outbox.find((e) => e.clientId === clientId);
    if (entry && (code === "muted" || code === "banned" || code === "forbidden")) {
      set((s) => ({ composerError: { ...s.composerError, [entry.roomId]: friendlyError(code, message) } }));
    }
    set((s) => ({
      outbox: s.outbox.map((e) =>
        e.clientId === clientId ? { ...e, state: "failed", error: friendlySendError(code, message) } : e,
      ),
    }));
    saveOutbox();
  },
  error: (code, message) => {
    if (!onCallError(code)) toast(message);
  },
  callState: (roomId, participants) => onCallState(roomId, participants),
  callSignal: (roomId, from, data) => onCallSignal(roomId, from, data),
  presence: (roomId, joined, left, onlineCount) =>
    updateView(roomId, (v) => {
      if (onlineCount !== undefined) return { ...v, onlineCount };
      const gone = new Set(left.map((u) => u.id));
      const online = v.online.filter((u) => !gone.has(u.id));
      for (const u of joined) if (!online.some((o) => o.id === u.id)) online.push(u);
      return { ...v, online };
    }),
  typing: (roomId, user) => {
    if (user.id === get().me?.id) return;
    updateView(roomId, (v) => ({ ...v, typing: { ...v.typing, [user.id]: { user, until: Date.now() + 4000 } } }));
  },
  roomList: (change, room, by) => {
    if (change === "deleted") {
      onRoomDeleted(room.id, by);
      return;
    }
    set((s) => ({ rooms: { ...s.rooms, [room.id]: mergeShared(s.rooms[room.id], room) } }));
    // Only members are told about a private room or a conversation: one we don't follow yet is
    // one we were just let into (a new DM, an invite, added by a moderator).
    if (room.kind !== "public" && !get().joined.includes(room.id)) void adoptRoom(room, false);
  },
  removed: (roomId, reason) => onRemoved(roomId, reason),
  report: (roomId) => {
    const room = get().rooms[roomId];
    toast(`A message in ${room ? roomTitle(room, get().me) : "a room you moderate"} was reported`, 8000);
  },
  unauthenticated: () => {
    toast("You were signed out.");
    endSession();
  },
  readMarker: (roomId, seq) => onReadMarker(roomId, seq),
  notification: (roomId, message) => onNotification(roomId, message),
};

/** The server stopped telling us about a room: drop it and say why. */
export function onRemoved(roomId: string, reason: RemovalReason): void {
  const room = get().rooms[roomId];
  const name = room ? roomTitle(room, get().me) : "a room";
  // A public room one was kicked from or left may be joined again: it stays in Browse.
  removeRoomLocally(roomId, (reason === "kicked" || reason === "left") && room?.kind === "public");
  const text = removalText(reason, name);
  if (text) {
    toast(text, 10_000);
    set({ announcement: text });
  }
}

function friendlySendError(code: string, message: string): string {
  switch (code) {
    case "muted":
    case "banned":
    case "forbidden":
      return friendlyError(code, message);
    case "rate_limited":
      return "Too fast — wait a moment and retry";
    case "body_too_long":
      return `Longer than ${MAX_BODY_CHARS} characters`;
    case "body_empty":
      return "Empty message";
    default:
      return message;
  }
}

function onDelivered(clientId: string, message: Message): void {
  if (onThreadDelivered(message)) {
    set((s) => ({ outbox: s.outbox.filter((e) => e.clientId !== clientId) }));
    saveOutbox();
    return;
  }
  const view = get().views[message.room_id];
  // An ack older than what we already applied must not resurrect a later delete or edit.
  if (view && message.seq > view.seq) updateView(message.room_id, (v) => upsertMessage(v, message));
  set((s) => ({ outbox: s.outbox.filter((e) => e.clientId !== clientId) }));
  saveOutbox();
}

/**
 * A room is gone. Its members (it was in their list) are told who deleted it, once: the
 * `room.deleted` event and the `room_list` frame both say it, whichever comes first (the room is
 * forgotten then, so the other finds nothing). The person who deleted it is not told.
 */
function onRoomDeleted(roomId: string, by: User | undefined): void {
  const { rooms, joined, me } = get();
  const room = rooms[roomId];
  const listed = joined.includes(roomId);
  removeRoomLocally(roomId);
  if (!room || !listed || (by && by.id === me?.id)) return;
  const text = roomDeletedText(roomTitle(room, me), by && displayName(by));
  toast(text, 10_000);
  set({ announcement: text });
}

function onEvent(event: Event): void {
  const state = get();
  if (event.kind === "room.deleted") {
    onRoomDeleted(event.room_id, event.by);
    return;
  }
  if (event.kind === "room.updated") {
    set((s) => ({ rooms: { ...s.rooms, [event.room.id]: mergeShared(s.rooms[event.room.id], event.room) } }));
  }
  const placeBefore = event.kind === "message.moved" ? previousId(state.views[event.room_id], event.message_id) : undefined;
  updateView(event.room_id, (v) => applyEvent(v, event));
  if (event.kind === "message.moved" && event.by && event.by.id !== state.me?.id) {
    const after = previousId(get().views[event.room_id], event.message_id);
    if (placeBefore !== undefined && after !== placeBefore) noteMoved(event.room_id, event.message_id, displayName(event.by));
  }
  onThreadEvent(event);
  onUnreadEvent(event, state.activeRoomId === event.room_id && isVisible());
  if (event.kind.startsWith("member.")) refreshMembersSoon(event.room_id);
  if (event.kind === "member.role_changed" && event.user.id === state.me?.id) {
    const role = event.role;
    set((s) => {
      const room = s.rooms[event.room_id];
      return room ? { rooms: { ...s.rooms, [room.id]: { ...room, my_role: role } } } : s;
    });
  }
  if (event.kind === "message.created") {
    const m = event.message;
    const mine = m.author.id === state.me?.id;
    if (mine) {
      if (state.outbox.some((e) => e.clientId === m.client_id)) {
        set((s) => ({ outbox: s.outbox.filter((e) => e.clientId !== m.client_id) }));
        saveOutbox();
      }
      return;
    }
    const looking = state.activeRoomId === event.room_id && isVisible();
    if (state.activeRoomId === event.room_id) {
      set({ announcement: `${m.author.username}: ${m.body.slice(0, 200)}` });
    }
    if (looking) markRead(event.room_id);
    if (!isVisible() && state.sound) chime();
  }
}

/** How long "moved by alice" shows beside a message someone else moved (#15). */
const MOVED_NOTE_MS = 6000;

/** Someone else moved a message: say who, beside it, for a moment (and to screen readers). */
function noteMoved(roomId: string, messageId: string, by: string): void {
  set((s) => ({ movedBy: { ...s.movedBy, [messageId]: by } }));
  if (get().activeRoomId === roomId) set({ announcement: `${by} moved a message` });
  setTimeout(() => {
    set((s) => {
      if (s.movedBy[messageId] !== by) return s;
      const movedBy = { ...s.movedBy };
      delete movedBy[messageId];
      return { movedBy };
    });
  }, MOVED_NOTE_MS);
}

// ---- actions --------------------------------------------------------------------------------

export function markRead(roomId: string): void {
  const { me, views, readSeq } = get();
  const view = views[roomId];
  if (!me || !view) return;
  const top = Math.max(view.seq, ...Object.values(view.messages).map((m) => m.seq));
  if (top > 0) noteRead(roomId, top);
  if ((readSeq[roomId] ?? 0) >= top) return;
  const next = { ...readSeq, [roomId]: top };
  set({ readSeq: next });
  writeJson(keys.read(me.id), next);
  tabs?.post({ type: "read", userId: me.id, roomId, seq: top });
}

export async function selectRoom(roomId: string): Promise<void> {
  const { joined, me } = get();
  const switching = get().activeRoomId !== roomId;
  set({
    activeRoomId: roomId,
    drawerOpen: false,
    ...(switching ? { thread: null, pinsOpen: false, threads: {}, rearranging: null } : {}),
  });
  if (switching) captureDivider(roomId);
  conn?.setFocus(roomId);
  if (me) writeString(keys.lastRoom(me.id), roomId);
  if (!joined.includes(roomId)) {
    try {
      const room = await api.joinRoom(roomId);
      // A room_list frame may have adopted it while the join was on its way.
      set((s) => ({ rooms: { ...s.rooms, [room.id]: room }, joined: s.joined.includes(room.id) ? s.joined : [...s.joined, room.id] }));
      saveJoined();
      // A people list loaded while the join was on its way lacks the person who just joined (their
      // member.joined event is older than the snapshot the room follows from).
      if (get().members[roomId]) void refreshMembers(roomId);
      if (!get().views[roomId]) await followRoom(roomId);
    } catch (err) {
      toast(`Couldn't join: ${describe(err)}`);
      if (err instanceof ApiError && (err.code === "banned" || err.status === 404)) removeRoomLocally(roomId);
      return;
    }
  }
  markRead(roomId);
}

/** Creates a room and opens it. Answers once the room exists (its history loads after), so the
 * dialog closes at once and the person can start typing in the new room. */
export async function createRoom(name: string, topic: string, kind: "public" | "private" = "public"): Promise<void> {
  const room = await api.createRoom(name.trim(), topic.trim() || undefined, kind);
  set((s) => ({ rooms: { ...s.rooms, [room.id]: room } }));
  void selectRoom(room.id);
}

export async function leaveRoom(roomId: string): Promise<void> {
  try {
    await api.leaveRoom(roomId);
  } catch (err) {
    toast(describe(err));
    return;
  }
  // A private room or a conversation is gone from view once left; a public one stays in Browse.
  if (get().rooms[roomId]?.kind !== "public") {
    removeRoomLocally(roomId);
    return;
  }
  conn?.unsubscribe(roomId);
  set((s) => {
    const views = { ...s.views };
    delete views[roomId];
    const joined = s.joined.filter((id) => id !== roomId);
    return { views, joined, activeRoomId: s.activeRoomId === roomId ? (joined[0] ?? null) : s.activeRoomId };
  });
  conn?.setFocus(get().activeRoomId);
  saveJoined();
}

export async function updateRoom(
  roomId: string,
  patch: {
    name?: string;
    topic?: string;
    rearrange?: "anyone" | "moderators" | "nobody";
    pins?: "anyone" | "moderators";
    mention_everyone?: "anyone" | "moderators";
  },
): Promise<void> {
  const room = await api.updateRoom(roomId, patch);
  set((s) => ({ rooms: { ...s.rooms, [room.id]: room } }));
}

export async function deleteRoom(roomId: string): Promise<void> {
  try {
    await api.deleteRoom(roomId);
    removeRoomLocally(roomId);
  } catch (err) {
    toast(describe(err));
  }
}

/** The reply, thread and files a queued message carries, as the connection sends them. */
function extraOf(entry: OutboxEntry): SendExtra | undefined {
  const files = (entry.attachments ?? []).map((f) => f.id);
  if (!entry.replyTo && !entry.threadId && files.length === 0) return undefined;
  return {
    ...(entry.replyTo ? { reply_to: entry.replyTo } : {}),
    ...(entry.threadId ? { thread_id: entry.threadId } : {}),
    ...(files.length ? { attachments: files } : {}),
  };
}

export function sendMessage(roomId: string, text: string, extra?: SendExtra, attachments: FileInfo[] = []): boolean {
  const body = text.trim();
  if (get().composerError[roomId]) clearComposerError(roomId);
  // With files (#12) the text is an optional caption.
  if ((!body && attachments.length === 0) || [...body].length > MAX_BODY_CHARS) return false;
  const entry: OutboxEntry = {
    clientId: newClientId(),
    roomId,
    body,
    createdAt: new Date().toISOString(),
    state: "pending",
    ...(extra?.reply_to ? { replyTo: extra.reply_to } : {}),
    ...(extra?.thread_id ? { threadId: extra.thread_id } : {}),
    ...(attachments.length ? { attachments } : {}),
  };
  set((s) => ({ outbox: [...s.outbox, entry] }));
  saveOutbox();
  conn?.send(roomId, entry.clientId, body, extraOf(entry));
  offerNotifications();
  lastTypingSent = 0; // the next keystroke starts a fresh "is typing"
  return true;
}

export function retrySend(clientId: string): void {
  const entry = get().outbox.find((e) => e.clientId === clientId);
  if (!entry) return;
  set((s) => ({
    outbox: s.outbox.map((e) => (e.clientId === clientId ? { ...e, state: "pending", error: undefined } : e)),
  }));
  saveOutbox();
  conn?.send(entry.roomId, entry.clientId, entry.body, extraOf(entry));
}

export function discardSend(clientId: string): void {
  set((s) => ({ outbox: s.outbox.filter((e) => e.clientId !== clientId) }));
  saveOutbox();
}

export function notifyTyping(roomId: string): void {
  // A room still loading (a DM just opened) isn't subscribed yet: the server would refuse.
  if (conn?.lastSeq(roomId) === undefined) return;
  const now = Date.now();
  if (now - lastTypingSent < 2000) return;
  lastTypingSent = now;
  conn?.typing(roomId);
}

export async function editMessage(roomId: string, messageId: string, body: string): Promise<void> {
  const text = body.trim();
  if (!text) return;
  updateView(roomId, (v) => setOptimistic(v, messageId, { body: text }));
  try {
    await api.edit(roomId, messageId, text);
  } catch (err) {
    updateView(roomId, (v) => clearOptimistic(v, messageId, "body"));
    toast(`Couldn't edit: ${describe(err)}`);
  }
}

export async function deleteMessage(roomId: string, messageId: string): Promise<void> {
  updateView(roomId, (v) => setOptimistic(v, messageId, { hidden: true }));
  try {
    await api.deleteMessage(roomId, messageId);
  } catch (err) {
    updateView(roomId, (v) => clearOptimistic(v, messageId, "hidden"));
    // Gone already (deleted by a moderator meanwhile): what the person wanted.
    if (err instanceof ApiError && err.code === "message_not_found") return;
    toast(`Couldn't delete: ${describe(err)}`);
  }
}

/** How long one's own deleted message can be taken back (#15). */
export const UNDO_DELETE_MS = 5000;
const undoableDeletes = new Map<string, { roomId: string; timer: ReturnType<typeof setTimeout>; toastId: number }>();

/**
 * Delete one's own message with a moment to take it back: it is hidden at once and a toast offers
 * "Undo"; the delete is sent only when the toast goes (or is closed). The server stays the truth:
 * until then the message exists for everyone, and an undo just shows it again — nothing is
 * re-created. A page closed meanwhile sends the delete on its way out.
 */
export function deleteOwnMessage(roomId: string, messageId: string): void {
  if (undoableDeletes.has(messageId)) return;
  updateView(roomId, (v) => setOptimistic(v, messageId, { hidden: true }));
  const toastId = toast("Message deleted", UNDO_DELETE_MS, { label: "Undo", run: () => undoDelete(messageId) });
  onToastDismissed.set(toastId, () => commitDelete(messageId));
  const timer = setTimeout(() => commitDelete(messageId), UNDO_DELETE_MS);
  undoableDeletes.set(messageId, { roomId, timer, toastId });
  set({ announcement: "Message deleted. Undo is in the notification." });
}

function commitDelete(messageId: string): void {
  const pending = undoableDeletes.get(messageId);
  if (!pending) return;
  undoableDeletes.delete(messageId);
  clearTimeout(pending.timer);
  hideToast(pending.toastId);
  void deleteMessage(pending.roomId, messageId);
}

export function undoDelete(messageId: string): void {
  const pending = undoableDeletes.get(messageId);
  if (!pending) return;
  undoableDeletes.delete(messageId);
  clearTimeout(pending.timer);
  hideToast(pending.toastId);
  updateView(pending.roomId, (v) => clearOptimistic(v, messageId, "hidden"));
  set({ announcement: "Message restored" });
}

if (typeof window !== "undefined") {
  window.addEventListener("pagehide", () => {
    for (const messageId of [...undoableDeletes.keys()]) commitDelete(messageId);
    flushReads();
  });
}

/** Move a message right after `after` (null: to the top); shown at once, confirmed by the event. */
export async function moveMessage(roomId: string, messageId: string, after: string | null): Promise<void> {
  updateView(roomId, (v) => setOptimistic(v, messageId, { after }));
  try {
    await api.move(roomId, messageId, after);
  } catch (err) {
    updateView(roomId, (v) => clearOptimistic(v, messageId, "after"));
    toast(`Couldn't move: ${describe(err)}`);
  }
}

export async function clearRoom(roomId: string): Promise<void> {
  try {
    await api.clear(roomId);
  } catch (err) {
    toast(`Couldn't clear: ${describe(err)}`);
  }
}

export async function loadOlder(roomId: string): Promise<void> {
  const view = get().views[roomId];
  if (!view || !view.hasMore || view.loadingOlder) return;
  const first = sortedMessages(view)[0];
  if (!first) return;
  updateView(roomId, (v) => ({ ...v, loadingOlder: true }));
  try {
    const page = await api.messages(roomId, { before: first.position, limit: 50 });
    updateView(roomId, (v) => prependOlder(v, page.messages, page.has_more));
  } catch (err) {
    updateView(roomId, (v) => ({ ...v, loadingOlder: false }));
    toast(describe(err));
  }
}

export async function fetchMembers(roomId: string) {
  return api.members(roomId);
}

export function clearComposerError(roomId: string): void {
  set((s) => {
    const composerError = { ...s.composerError };
    delete composerError[roomId];
    return { composerError };
  });
}

export function openDialog(dialog: AppDialog): void {
  set({ dialog, drawerOpen: false });
}

/** "Retry now" (#15): try the server again without waiting for the next attempt. */
export function retryNow(): void {
  conn?.nudge();
}

/** #15: show (a room id) or hide (null) the drag handles on a touch screen. */
export function setRearranging(roomId: string | null): void {
  set({ rearranging: roomId });
}

export function setDrawer(open: boolean): void {
  set({ drawerOpen: open });
}
