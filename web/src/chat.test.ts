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
  created_at: "2026-01-01T00:00:00.000Z",
  kind: "public",
  member: true,
  my_role: "member",
};

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
    const method = init?.method ?? "GET";
    if (url === "/api/me") return json(alice);
    if (url === "/api/rooms") return json([room]);
    if (url === "/api/rooms/r1" && method === "GET") return json(room);
    if (url.startsWith("/api/rooms/r1/messages") && method === "GET") return json({ messages: [], has_more: false });
    if (url.startsWith("/api/rooms/r1/members")) return json([]);
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
    expect(socket.sentOfType("subscribe")).toEqual([{ type: "subscribe", room_id: "r1", after: 0 }]);
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
});
