/**
 * The controller and store together, with the browser faked at its edges (fetch, WebSocket,
 * localStorage): the outbox survives a reload, is resent with the same client_id once the socket
 * is up, and a message is shown exactly once whether its ack or its event comes first.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Message, Room } from "./protocol";
import { displayItems, type OutboxEntry } from "./roomState";
import { FakeSocket, alice, bob, created, message } from "./testing";

const sockets: FakeSocket[] = [];
const storage = new Map<string, string>();
const room: Room = {
  id: "r1",
  name: "General",
  topic: "",
  owner_id: null,
  member_count: 1,
  online_count: 0,
  last_seq: 0,
  rearrange: "anyone",
  mention_everyone: "anyone",
  created_at: "2026-01-01T00:00:00.000Z",
  kind: "public",
  member: true,
  my_role: "member",
  pins: "moderators",
};

const lounge: Room = { ...room, id: "r3", name: "Lounge" };
/** A room big enough to be followed by counts. */
const hall: Room = { ...room, id: "r4", name: "Hall", member_count: 3000, online_count: 900 };
/** What GET /api/me/unread answers. */
let serverUnread: unknown[] = [];
/** When set, GET /api/me/unread waits for it before answering what was counted when asked. */
let unreadHeld: Promise<void> | null = null;
/** Every request made, in order. */
const requested: { url: string; init?: RequestInit }[] = [];
const dm: Room = { ...room, id: "dm1", name: "alice, bob", kind: "direct", owner_id: null, member: true, my_role: "member" };

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

beforeAll(() => {
  vi.stubGlobal("localStorage", {
    getItem: (k: string) => storage.get(k) ?? null,
    setItem: (k: string, v: string) => void storage.set(k, v),
    removeItem: (k: string) => void storage.delete(k),
  });
  vi.stubGlobal("window", new EventTarget());
  vi.stubGlobal("document", Object.assign(new EventTarget(), { visibilityState: "visible", documentElement: { dataset: {} } }));
  vi.stubGlobal("location", { protocol: "http:", host: "test", search: "" });
  vi.stubGlobal("navigator", { onLine: true });
  vi.stubGlobal("BroadcastChannel", undefined);
  vi.stubGlobal(
    "WebSocket",
    class extends FakeSocket {
      constructor(url: string) {
        super(url);
        sockets.push(this);
      }
    },
  );
  vi.stubGlobal("fetch", async (url: string, init?: RequestInit) => {
    requested.push({ url, init });
    const method = init?.method ?? "GET";
    if (url === "/api/me") return json(alice);
    if (url === "/api/rooms") return json([room]);
    if (url === "/api/me/unread") {
      const counted = serverUnread;
      if (unreadHeld) await unreadHeld;
      return json(counted);
    }
    if (url === "/api/rooms/r1" && method === "GET") return json(room);
    if (url.startsWith("/api/rooms/r1/messages") && method === "GET") return json({ messages: [], has_more: false });
    if (url.startsWith("/api/rooms/r1/members")) return json([]);
    if (url === "/api/rooms/r3" && method === "GET") return json(lounge);
    if (url === "/api/rooms/r3/join" && method === "POST") return json(lounge);
    if (url.startsWith("/api/rooms/r3/messages") && method === "GET") return json({ messages: [], has_more: false });
    if (url === "/api/rooms/r4" && method === "GET") return json(hall);
    if (url === "/api/rooms/r4/join" && method === "POST") return json(hall);
    if (url.startsWith("/api/rooms/r4/messages") && method === "GET") return json({ messages: [], has_more: false });
    if (url === "/api/rooms/dm1" && method === "GET") return json(dm);
    if (url.startsWith("/api/rooms/dm1/messages") && method === "GET") return json({ messages: [], has_more: false });
    if (url.startsWith("/api/rooms/dm1/members")) {
      return json([
        { user: alice, role: "member", online: true },
        { user: { ...bob, display_name: "Bobby" }, role: "member", online: false },
      ]);
    }
    return json({ error: { code: "not_found", message: url } }, 404);
  });
});

afterAll(() => vi.unstubAllGlobals());

const until = (check: () => boolean) => vi.waitFor(() => expect(check()).toBe(true));

describe("the chat controller", () => {
  it("resends a message kept from before a reload with its client_id and shows it once", async () => {
    const kept: OutboxEntry = {
      clientId: "c-kept",
      roomId: "r1",
      body: "typed while offline",
      createdAt: "2026-01-01T00:00:00.000Z",
      state: "pending",
    };
    storage.set(`palaver.outbox.${alice.id}`, JSON.stringify([kept]));
    storage.set(`palaver.joined.${alice.id}`, JSON.stringify(["r1"]));

    const { init } = await import("./chat");
    const { useChat } = await import("./store");
    await init();
    await until(() => sockets.length === 1 && useChat.getState().views.r1?.loaded === true);

    const items = () => {
      const s = useChat.getState();
      return displayItems(s.views.r1, s.outbox, s.me);
    };
    expect(items().map((i) => i.type)).toEqual(["pending"]);

    const socket = sockets[0];
    socket.open();
    socket.receive({ type: "hello", user: alice, protocol: 1, node_id: "n" });
    expect(socket.sentOfType("subscribe")).toEqual([{ type: "subscribe", room_id: "r1", after: 0, ref: "subscribe:r1" }]);
    expect(socket.sentOfType("send")).toEqual([
      { type: "send", room_id: "r1", client_id: "c-kept", body: "typed while offline" },
    ]);

    const stored: Message = { ...message("m1", 1, "a0"), client_id: "c-kept", body: "typed while offline" };
    socket.receive({ type: "event", event: created(1, stored) });
    socket.receive({ type: "ack", client_id: "c-kept", message: stored });
    expect(items().map((i) => i.type)).toEqual(["message"]);
    expect(useChat.getState().outbox).toEqual([]);
    expect(JSON.parse(storage.get(`palaver.outbox.${alice.id}`) ?? "null")).toEqual([]);
  });

  it("a new message is pending until acked, and the later event doesn't double it", async () => {
    const { sendMessage } = await import("./chat");
    const { useChat } = await import("./store");
    const socket = sockets[0];
    expect(sendMessage("r1", "  hello bob  ")).toBe(true);
    const entry = useChat.getState().outbox[0];
    expect(entry).toMatchObject({ body: "hello bob", state: "pending" });
    expect(JSON.parse(storage.get(`palaver.outbox.${alice.id}`) ?? "[]")).toHaveLength(1);
    const sent = socket.sentOfType("send").at(-1);
    expect(sent).toEqual({ type: "send", room_id: "r1", client_id: entry.clientId, body: "hello bob" });

    const stored: Message = { ...message("m2", 2, "a1"), client_id: entry.clientId, body: "hello bob" };
    socket.receive({ type: "ack", client_id: entry.clientId, message: stored });
    socket.receive({ type: "event", event: created(2, stored) });
    const s = useChat.getState();
    expect(displayItems(s.views.r1, s.outbox, s.me).map((i) => (i.type === "message" ? i.message.body : i.type))).toEqual([
      "typed while offline",
      "hello bob",
    ]);
  });

  it("marks a refused send failed, and retry sends the same client_id again", async () => {
    const { sendMessage, retrySend } = await import("./chat");
    const { useChat } = await import("./store");
    const socket = sockets[0];
    sendMessage("r1", "too fast");
    const { clientId } = useChat.getState().outbox[0];
    socket.receive({ type: "error", code: "rate_limited", message: "slow down", client_id: clientId });
    expect(useChat.getState().outbox[0]).toMatchObject({ state: "failed" });
    retrySend(clientId);
    expect(useChat.getState().outbox[0]).toMatchObject({ state: "pending" });
    expect(socket.sentOfType("send").filter((f) => f.client_id === clientId)).toHaveLength(2);
  });

  it("counts unread messages from others and clears them when read", async () => {
    const { markRead } = await import("./chat");
    const { useChat } = await import("./store");
    const { unreadCount } = await import("./roomState");
    const socket = sockets[0];
    useChat.setState({ activeRoomId: null });
    socket.receive({ type: "event", event: created(3, message("m3", 3, "a2", bob)) });
    const unread = () => {
      const s = useChat.getState();
      return unreadCount(s.views.r1, s.readSeq.r1 ?? 0, s.me);
    };
    expect(unread()).toBe(1);
    markRead("r1");
    expect(unread()).toBe(0);
  });

  it("a count the server took before a read here does not bring the read messages back", async () => {
    const { loadUnread, noteRead } = await import("./unread");
    const { useChat } = await import("./store");
    noteRead("r1", 7);
    serverUnread = [{ room_id: "r1", last_read_seq: 5, unread: 2, mentions: 1 }];
    await loadUnread();
    expect(useChat.getState().unread.r1).toMatchObject({ last_read_seq: 7, unread: 0, mentions: 0 });
    // A count taken after it (read further elsewhere, then a new message) is the truth.
    serverUnread = [{ room_id: "r1", last_read_seq: 9, unread: 1, mentions: 0 }];
    await loadUnread();
    expect(useChat.getState().unread.r1).toMatchObject({ last_read_seq: 9, unread: 1, mentions: 0 });
    serverUnread = [];
  });

  it("a read not yet told to the server goes out, outliving the page, when the page goes away", async () => {
    const { noteRead } = await import("./unread");
    noteRead("r1", 11);
    const reads = () => requested.filter((r) => r.url === "/api/rooms/r1/read");
    const before = reads().length;
    // A reload within the debounce: the page hides before the timer fires.
    window.dispatchEvent(new Event("pagehide"));
    const sent = reads().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].init).toMatchObject({ method: "PUT", keepalive: true, body: JSON.stringify({ seq: 11 }) });
    // Told once: the debounce timer no longer sends it again.
    await new Promise((r) => setTimeout(r, 450));
    expect(reads().length).toBe(before + 1);
  });

  it("a read this browser saw that the server has not (the unload PUT lost or late) is told again", async () => {
    const { loadUnread } = await import("./unread");
    const { useChat } = await import("./store");
    useChat.setState((s) => ({ readSeq: { ...s.readSeq, r1: 12 } }));
    serverUnread = [{ room_id: "r1", last_read_seq: 5, unread: 2, mentions: 1 }];
    const reads = () => requested.filter((r) => r.url === "/api/rooms/r1/read");
    const counts = () => requested.filter((r) => r.url === "/api/me/unread");
    const [readsBefore, countsBefore] = [reads().length, counts().length];
    await loadUnread();
    await until(() => reads().length === readsBefore + 1);
    expect(reads()[readsBefore].init).toMatchObject({ method: "PUT", body: JSON.stringify({ seq: 12 }) });
    // Once it has landed, the counts are asked for again; told once per page, not again.
    await until(() => counts().length === countsBefore + 2);
    expect(reads().length).toBe(readsBefore + 1);
    serverUnread = [];
  });

  it("a DM someone opened with me appears, is followed, and is named after them", async () => {
    const { useChat } = await import("./store");
    const { roomTitle } = await import("./names");
    const socket = sockets[0];
    // room_list frames are shared bytes: member false, my_role null.
    socket.receive({ type: "room_list", change: "created", room: { ...dm, member: false, my_role: null } });
    await until(() => socket.sentOfType("subscribe").some((f) => f.room_id === "dm1"));
    await until(() => useChat.getState().members.dm1?.length === 2);
    const s = useChat.getState();
    expect(s.joined).toContain("dm1");
    const known = Object.fromEntries(s.members.dm1.map((m) => [m.user.username, m.user]));
    expect(roomTitle(s.rooms.dm1, s.me, known)).toBe("Bobby");
  });

  it("moderation events are quiet lines, and a role change of mine updates my role", async () => {
    const { useChat } = await import("./store");
    const socket = sockets[0];
    const at = "2026-01-01T00:01:00.000Z";
    socket.receive({ type: "event", event: { room_id: "r1", seq: 4, at, kind: "member.role_changed", user: alice, role: "moderator", by: bob } });
    socket.receive({
      type: "event",
      event: { room_id: "r1", seq: 5, at, kind: "member.muted", user: bob, by: alice, expires_at: "2026-01-01T00:11:00.000Z" },
    });
    const s = useChat.getState();
    expect(s.rooms.r1.my_role).toBe("moderator");
    expect(s.views.r1.notices.map((n) => n.text).slice(-2)).toEqual(["bob made alice a moderator", "alice muted bob for 10 minutes"]);
    // A later shared room frame doesn't take the role away.
    socket.receive({ type: "room_list", change: "updated", room: { ...room, member_count: 2, member: false, my_role: null } });
    expect(useChat.getState().rooms.r1).toMatchObject({ member_count: 2, my_role: "moderator", member: true });
  });

  it("a read marker the socket missed while it was down is caught up on its next hello", async () => {
    const { useChat } = await import("./store");
    const socket = sockets[0];
    useChat.setState((s) => ({ activeRoomId: null, unread: { ...s.unread, r1: { room_id: "r1", last_read_seq: 3, unread: 0, mentions: 0 } } }));
    socket.receive({ type: "event", event: created(6, message("m6", 6, "a6", bob)) });
    socket.receive({ type: "event", event: created(7, message("m7", 7, "a7", bob)) });
    expect(useChat.getState().unread.r1.unread).toBe(2);
    // Read up to 6 elsewhere while this socket was away; the server's whole count is older.
    serverUnread = [{ room_id: "r1", last_read_seq: 6, unread: 7, mentions: 3 }];
    socket.receive({ type: "hello", user: alice, protocol: 1, node_id: "n" });
    await until(() => useChat.getState().unread.r1.last_read_seq === 6);
    // What is left is counted from the messages this page has: m7 only.
    expect(useChat.getState().unread.r1).toMatchObject({ unread: 1, mentions: 0 });
    serverUnread = [];
  });

  it("a send refused because I'm muted tells the composer", async () => {
    const { sendMessage } = await import("./chat");
    const { useChat } = await import("./store");
    const socket = sockets[0];
    sendMessage("r1", "let me speak");
    const entry = useChat.getState().outbox.find((e) => e.body === "let me speak");
    socket.receive({ type: "error", code: "muted", message: "muted", client_id: entry?.clientId });
    expect(useChat.getState().composerError.r1).toBe("You are muted in this room");
    expect(useChat.getState().outbox.find((e) => e.body === "let me speak")).toMatchObject({ state: "failed", error: "You are muted in this room" });
  });

  it("a removed frame drops the room from the list and says why", async () => {
    const { useChat } = await import("./store");
    const socket = sockets[0];
    useChat.setState({ activeRoomId: "r1" });
    socket.receive({ type: "removed", room_id: "r1", reason: "banned" });
    const s = useChat.getState();
    expect(s.rooms.r1).toBeUndefined();
    expect(s.views.r1).toBeUndefined();
    expect(s.joined).not.toContain("r1");
    expect(s.activeRoomId).toBe("dm1");
    expect(s.toasts.map((t) => t.text)).toContain("You were banned from General");
    expect(s.outbox.filter((e) => e.roomId === "r1")).toEqual([]);
    // Nothing more of that room is shown, even if a stray event arrives.
    socket.receive({ type: "event", event: created(9, message("m9", 9, "a9", bob)) });
    expect(useChat.getState().views.r1).toBeUndefined();
  });

  it("someone kicked from (or leaving) a public room finds it in Browse again; a DM is gone for good", async () => {
    const { selectRoom } = await import("./chat");
    const { useChat } = await import("./store");
    const socket = sockets[0];
    socket.receive({ type: "room_list", change: "created", room: { ...lounge, member: false, my_role: null } });
    await selectRoom("r3");
    await until(() => useChat.getState().views.r3?.loaded === true);
    socket.receive({ type: "removed", room_id: "r3", reason: "kicked" });
    let s = useChat.getState();
    expect(s.joined).not.toContain("r3");
    expect(s.views.r3).toBeUndefined();
    expect(s.rooms.r3).toMatchObject({ name: "Lounge", member: false, my_role: null });
    expect(s.toasts.map((t) => t.text)).toContain("You were removed from Lounge");

    // Leaving (here, or in another tab: the server says "left") keeps a public room in Browse too.
    await selectRoom("r3");
    await until(() => useChat.getState().views.r3?.loaded === true);
    socket.receive({ type: "removed", room_id: "r3", reason: "left" });
    s = useChat.getState();
    expect(s.joined).not.toContain("r3");
    expect(s.rooms.r3).toMatchObject({ name: "Lounge", member: false });

    socket.receive({ type: "removed", room_id: "dm1", reason: "left" });
    s = useChat.getState();
    expect(s.rooms.dm1).toBeUndefined();
    expect(s.joined).not.toContain("dm1");
  });

  it("a big room is followed by counts: its online count comes from the socket, not a list", async () => {
    const { selectRoom } = await import("./chat");
    const { useChat } = await import("./store");
    const { onlineCountOf } = await import("./roomState");
    const socket = sockets[0];
    socket.receive({ type: "room_list", change: "created", room: { ...hall, member: false, my_role: null } });
    await selectRoom("r4");
    await until(() => socket.sentOfType("subscribe").some((f) => f.room_id === "r4"));
    expect(socket.sentOfType("subscribe").find((f) => f.room_id === "r4")).toMatchObject({ presence: "counts" });
    expect(socket.sentOfType("subscribe").find((f) => f.room_id === "r1")).not.toHaveProperty("presence");

    socket.receive({ type: "subscribed", room_id: "r4", last_seq: 0, online: [], online_count: 901 });
    expect(onlineCountOf(useChat.getState().views.r4)).toBe(901);
    socket.receive({ type: "presence", room_id: "r4", joined: [], left: [], online_count: 950 });
    expect(onlineCountOf(useChat.getState().views.r4)).toBe(950);
    expect(useChat.getState().views.r4.online).toEqual([]);
  });
  it("a message counted while the counts were asked for is not lost to an answer taken before it", async () => {
    const { loadUnread } = await import("./unread");
    const { useChat } = await import("./store");
    const socket = sockets[0];
    useChat.setState({ activeRoomId: null });
    serverUnread = [{ room_id: "r4", last_read_seq: 0, unread: 0, mentions: 0 }];
    await loadUnread();
    const counts = () => requested.filter((r) => r.url === "/api/me/unread").length;
    const before = counts();
    // Asked for; the server counts 0 unread, and its answer is slow to arrive.
    let answer = () => {};
    unreadHeld = new Promise((r) => (answer = r));
    const loading = loadUnread();
    await until(() => counts() === before + 1);
    // Meanwhile a message arrives and is counted; the server now counts it too.
    socket.receive({ type: "event", event: created(1, { ...message("h1", 1, "a1", bob), room_id: "r4" }) });
    expect(useChat.getState().unread.r4).toMatchObject({ unread: 1 });
    serverUnread = [{ room_id: "r4", last_read_seq: 0, unread: 1, mentions: 0 }];
    unreadHeld = null;
    answer();
    await loading;
    // The late answer took the count back to 0; the counts are asked for again, and it is 1.
    await until(() => counts() === before + 2);
    await until(() => useChat.getState().unread.r4?.unread === 1);
    serverUnread = [];
  });
});
