import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import { Connection, type ConnectionApi } from "./connection";
import type { Event, EventPage } from "./protocol";
import { FakeSocket, RecordingSink, alice, bob, created, message } from "./testing";

type Setup = {
  conn: Connection;
  sink: RecordingSink;
  sockets: FakeSocket[];
  api: Record<"events" | "send" | "typing" | "me", ReturnType<typeof vi.fn>>;
  last: () => FakeSocket;
};

type EventsFake = (roomId: string, q: { after: number; wait?: number; live?: string }, signal?: AbortSignal) => Promise<EventPage>;

function setup(
  opts: { events?: EventsFake; httpDown?: boolean } = {},
): Setup {
  const sockets: FakeSocket[] = [];
  const sink = new RecordingSink();
  const api = {
    events: vi.fn(opts.events ?? (async () => ({ events: [], last_seq: 0 }))),
    send: vi.fn(async (roomId: string, clientId: string, body: string) => ({
      ...message("m-sent", 99, "z"),
      room_id: roomId,
      client_id: clientId,
      body,
    })),
    typing: vi.fn(async () => undefined),
    me: vi.fn(async () => (opts.httpDown ? Promise.reject(new ApiError(0, "network", "down")) : alice)),
  };
  const conn = new Connection(
    {
      api: api as unknown as ConnectionApi,
      url: "ws://test/ws",
      createSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
      random: () => 0.5,
      socketRetryMs: 60_000,
    },
    sink,
  );
  return { conn, sink, sockets, api, last: () => sockets[sockets.length - 1] };
}

function goLive(s: FakeSocket) {
  s.open();
  s.receive({ type: "hello", user: alice, protocol: 1, node_id: "n1" });
}

/**
 * A fake long-poll server: each room's polls are answered from its script in turn (an ApiError is
 * thrown), then as by a quiet room: an empty page with the same live token once `wait` is over.
 */
function pollServer(script: Record<string, (EventPage | ApiError)[]>): EventsFake {
  return (roomId, q, signal) => {
    const next = script[roomId]?.shift();
    if (next instanceof ApiError) return Promise.reject(next);
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ events: [], last_seq: q.after, live: q.live }), (q.wait ?? 0) * 1000);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      });
    });
  };
}

/**
 * The socket fails twice while HTTP works, and once more when tried again after the probe: the
 * connection long-polls `rooms`, the first focused.
 */
async function startPolling({ conn, last }: Setup, rooms: string[]): Promise<void> {
  conn.start();
  for (const id of rooms) conn.subscribe(id, 0);
  conn.setFocus(rooms[0]);
  last().drop(1006);
  await vi.advanceTimersByTimeAsync(1_000);
  last().drop(1006);
  await vi.advanceTimersByTimeAsync(0);
  last().drop(1006);
  await vi.advanceTimersByTimeAsync(0);
  expect(conn.state).toBe("polling");
}

/** The `live` each poll of a room passed, in order. */
function livesSent(api: Setup["api"], roomId: string): (string | undefined)[] {
  return api.events.mock.calls.filter(([id]) => id === roomId).map(([, q]) => (q as { live?: string }).live);
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("Connection", () => {
  it("reports connecting then live once the server says hello", () => {
    const { conn, sink, last } = setup();
    conn.start();
    expect(conn.state).toBe("connecting");
    goLive(last());
    expect(sink.states).toEqual(["connecting", "live"]);
  });

  it("subscribes with after = the snapshot seq and resumes every room from its last seq after a reconnect", async () => {
    const { conn, sink, last, sockets } = setup();
    conn.start();
    conn.subscribe("r1", 10);
    conn.subscribe("r2", 0);
    goLive(last());
    expect(last().sentOfType("subscribe")).toEqual([
      { type: "subscribe", room_id: "r1", after: 10, ref: "subscribe:r1" },
      { type: "subscribe", room_id: "r2", after: 0, ref: "subscribe:r2" },
    ]);
    last().receive({ type: "event", event: created(11) });
    last().receive({ type: "event", event: { ...created(1), room_id: "r2" } });
    last().drop();
    expect(conn.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sockets).toHaveLength(2);
    goLive(last());
    expect(last().sentOfType("subscribe")).toEqual([
      { type: "subscribe", room_id: "r1", after: 11, ref: "subscribe:r1" },
      { type: "subscribe", room_id: "r2", after: 1, ref: "subscribe:r2" },
    ]);
    expect(sink.states).toEqual(["connecting", "live", "reconnecting", "live"]);
  });

  it("passes each event on exactly once even when the replay repeats what was live", () => {
    const { conn, sink, last } = setup();
    conn.start();
    conn.subscribe("r1", 0);
    goLive(last());
    for (const seq of [1, 2, 2, 1, 3, 3]) last().receive({ type: "event", event: created(seq) });
    expect(sink.seqs()).toEqual([1, 2, 3]);
  });

  it("fills a seq gap over REST before passing on later events, in order", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { conn, sink, last, api } = setup({
      events: async (_room, q) => {
        await gate;
        expect(q.after).toBe(1);
        return { events: [created(2), created(3)], last_seq: 3 };
      },
    });
    conn.start();
    conn.subscribe("r1", 0);
    goLive(last());
    last().receive({ type: "event", event: created(1) });
    last().receive({ type: "event", event: created(3) }); // 2 went missing
    last().receive({ type: "event", event: created(4) }); // arrives while the gap is being filled
    expect(sink.seqs()).toEqual([1]);
    expect(api.events).toHaveBeenCalledTimes(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.seqs()).toEqual([1, 2, 3, 4]);
    last().receive({ type: "event", event: created(5) });
    expect(sink.seqs()).toEqual([1, 2, 3, 4, 5]);
  });

  it("keeps retrying a gap fill that fails, then delivers everything", async () => {
    let calls = 0;
    const { conn, sink, last } = setup({
      events: async () => {
        calls += 1;
        if (calls < 3) throw new ApiError(0, "network", "down");
        return { events: [created(2)], last_seq: 3 };
      },
    });
    conn.start();
    conn.subscribe("r1", 1);
    goLive(last());
    last().receive({ type: "event", event: created(3) });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(3);
    expect(sink.seqs()).toEqual([2, 3]);
  });

  it("resends unacknowledged messages after a reconnect with the same client_id, and never after the ack", async () => {
    const { conn, sink, last } = setup();
    conn.start();
    conn.subscribe("r1", 0);
    conn.send("r1", "c-offline", "typed before the socket was up");
    goLive(last());
    conn.send("r1", "c-1", "hello");
    expect(last().sentOfType("send").map((f) => f.client_id)).toEqual(["c-offline", "c-1"]);
    last().receive({ type: "ack", client_id: "c-offline", message: message("m1", 1, "a") });
    last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    goLive(last());
    expect(last().sentOfType("send")).toEqual([{ type: "send", room_id: "r1", client_id: "c-1", body: "hello" }]);
    last().receive({ type: "ack", client_id: "c-1", message: message("m2", 2, "b") });
    expect(sink.acks).toEqual(["c-offline", "c-1"]);
    expect(conn.isOutstanding("c-1")).toBe(false);
  });

  it("marks a refused send failed and stops resending it", async () => {
    const { conn, sink, last } = setup();
    conn.start();
    goLive(last());
    conn.send("r1", "c-long", "x".repeat(5000));
    last().receive({ type: "error", code: "body_too_long", message: "too long", client_id: "c-long" });
    expect(sink.failed).toEqual([{ clientId: "c-long", code: "body_too_long" }]);
    last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    goLive(last());
    expect(last().sentOfType("send")).toEqual([]);
  });

  it("asks again for a subscribe refused as unavailable, a few times, then tells the person", async () => {
    const { conn, sink, last } = setup();
    conn.subscribe("r1", 4);
    conn.start();
    goLive(last());
    const refuse = () => last().receive({ type: "error", code: "unavailable", message: "busy", ref: "subscribe:r1" });
    refuse();
    expect(sink.errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(499);
    expect(last().sentOfType("subscribe")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sentOfType("subscribe")).toEqual([
      { type: "subscribe", room_id: "r1", after: 4, ref: "subscribe:r1" },
      { type: "subscribe", room_id: "r1", after: 4, ref: "subscribe:r1" },
    ]);
    for (const wait of [1_000, 2_000, 4_000]) {
      refuse();
      await vi.advanceTimersByTimeAsync(wait);
    }
    expect(last().sentOfType("subscribe")).toHaveLength(5);
    refuse();
    expect(sink.errors).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(last().sentOfType("subscribe")).toHaveLength(5);
    // Other refusals reach the person at once, and a refusal of another kind is not retried.
    last().receive({ type: "error", code: "banned", message: "banned", ref: "subscribe:r1" });
    expect(sink.errors).toHaveLength(2);
  });

  it("backs off exponentially with jitter, capped", () => {
    const lows = new Connection(
      { api: {} as ConnectionApi, url: "", createSocket: () => new FakeSocket(""), random: () => 0 },
      new RecordingSink(),
    );
    const highs = new Connection(
      { api: {} as ConnectionApi, url: "", createSocket: () => new FakeSocket(""), random: () => 0.999999 },
      new RecordingSink(),
    );
    expect([1, 2, 3, 4].map((n) => lows.backoffDelay(n))).toEqual([250, 500, 1000, 2000]);
    expect([1, 2, 3, 4].map((n) => highs.backoffDelay(n))).toEqual([500, 1000, 2000, 4000]);
    expect(highs.backoffDelay(30)).toBe(15_000);
    expect(lows.backoffDelay(30)).toBe(7_500);
  });

  it("falls back to long polling and REST sends when the socket never opens, and back to live when it does", async () => {
    const pages: EventPage[] = [{ events: [created(1)], last_seq: 1 }];
    const { conn, sink, last, api, sockets } = setup({
      events: async () => pages.shift() ?? new Promise<EventPage>(() => undefined),
    });
    conn.start();
    conn.subscribe("r1", 0);
    conn.setFocus("r1");
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(1_000);
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    // The reachability probe asks the server itself, never the service worker's kept copy.
    expect(api.me).toHaveBeenCalledWith({ fresh: true });
    // HTTP gets through: the socket is tried once more at once (the failures may have been a
    // server coming back up), and only when that fails too does the client poll.
    expect(sockets).toHaveLength(3);
    expect(conn.state).not.toBe("polling");
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(conn.state).toBe("polling");
    await vi.advanceTimersByTimeAsync(0);
    expect(api.events).toHaveBeenCalledWith("r1", expect.objectContaining({ after: 0, wait: 25 }), expect.anything());
    expect(sink.seqs()).toEqual([1]);
    conn.send("r1", "c-poll", "over REST");
    await vi.advanceTimersByTimeAsync(0);
    expect(api.send).toHaveBeenCalledWith("r1", "c-poll", "over REST");
    expect(sink.acks).toEqual(["c-poll"]);
    // The socket is tried again later; when it works, polling stops and the room resumes.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets).toHaveLength(4);
    goLive(last());
    expect(conn.state).toBe("live");
    expect(last().sentOfType("subscribe")).toEqual([{ type: "subscribe", room_id: "r1", after: 1, ref: "subscribe:r1" }]);
  });

  it("tries the socket again at once, not polling, when the server comes back between a failed socket and the probe", async () => {
    let up = false;
    const { conn, last, api, sockets } = setup({ httpDown: true });
    api.me.mockImplementation(async () => {
      if (!up) throw new ApiError(0, "network", "down");
      return alice;
    });
    conn.start();
    goLive(last());
    conn.subscribe("r1", 0);
    // The server restarts: the sockets fail while it is down, and the probes find it down.
    for (let i = 0; i < 3; i++) {
      last().drop(1006);
      await vi.advanceTimersByTimeAsync(20_000);
    }
    expect(conn.state).toBe("reconnecting");
    // It is back just as the next socket has failed: the probe gets through.
    up = true;
    const attempts = sockets.length;
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(attempts + 1);
    expect(conn.state).toBe("reconnecting");
    goLive(last());
    expect(conn.state).toBe("live");
    expect(api.events).not.toHaveBeenCalled();
  });

  it("starts afresh after a stop: the last spell's failures and extra attempt don't carry over", async () => {
    const s = setup({ events: pollServer({}) });
    await startPolling(s, ["r1"]);
    s.conn.stop();
    const attempts = s.sockets.length;
    s.conn.start();
    expect(s.sockets).toHaveLength(attempts + 1);
    s.last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    // The first failure of the new start: a quick retry, no fallback to polling yet.
    expect(s.conn.state).toBe("connecting");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(s.sockets).toHaveLength(attempts + 2);
  });

  it("keeps reconnecting, not polling, when the server is down altogether", async () => {
    const { conn, last, api, sockets } = setup({ httpDown: true });
    conn.start();
    conn.subscribe("r1", 0);
    for (let i = 0; i < 4; i++) {
      last().drop(1006);
      await vi.advanceTimersByTimeAsync(20_000);
    }
    expect(conn.state).toBe("connecting");
    expect(api.events).not.toHaveBeenCalled();
    expect(sockets.length).toBeGreaterThanOrEqual(5);
    // The server is back: the next attempt gets through.
    const attempts = sockets.length;
    while (sockets.length === attempts) await vi.advanceTimersByTimeAsync(100);
    goLive(last());
    expect(conn.state).toBe("live");
  });

  it("retries a lost socket after 0.25, 0.5 and 1 s, says when, and retries at once when nudged", async () => {
    const { conn, sink, last, sockets } = setup({ httpDown: true });
    conn.start();
    goLive(last());
    const start = Date.now();
    last().drop(1006);
    expect(conn.state).toBe("reconnecting");
    expect(sink.retries.at(-1)).toBe(start + 250);
    await vi.advanceTimersByTimeAsync(249);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(2);
    expect(sink.retries.at(-1)).toBeNull();
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(500);
    expect(sockets).toHaveLength(3);
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(4);
    // Past the fast retries the wait is longer; the browser saying it is back online skips it.
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.retries.at(-1)).not.toBeNull();
    conn.nudge();
    expect(sockets).toHaveLength(5);
    expect(sink.retries.at(-1)).toBeNull();
    goLive(last());
    expect(conn.state).toBe("live");
  });

  it("gives up and asks for sign-in on close code 1008", async () => {
    const { conn, sink, last, sockets } = setup();
    conn.start();
    goLive(last());
    last().drop(1008);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sink.signedOut).toBe(1);
    expect(sockets).toHaveLength(1);
    expect(conn.state).toBe("offline");
  });

  it("reconnects at once after a slow-consumer close and resumes with after", async () => {
    const { conn, last, sockets } = setup();
    conn.start();
    conn.subscribe("r1", 5);
    goLive(last());
    last().receive({ type: "event", event: created(6) });
    last().drop(4008);
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(2);
    goLive(last());
    expect(last().sentOfType("subscribe")).toEqual([{ type: "subscribe", room_id: "r1", after: 6, ref: "subscribe:r1" }]);
  });

  it("on resync lets the store reload, then continues from the server's last seq", async () => {
    const { conn, sink, last } = setup();
    conn.start();
    conn.subscribe("r1", 2);
    goLive(last());
    last().receive({ type: "resync", room_id: "r1", last_seq: 5000 });
    last().receive({ type: "event", event: created(5001) });
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.resyncs).toEqual(["r1"]);
    expect(sink.seqs()).toEqual([5001]);
    expect(conn.lastSeq("r1")).toBe(5001);
  });

  it("replaces a silent socket found by an unanswered ping", async () => {
    const { conn, last, sockets } = setup();
    conn.start();
    goLive(last());
    await vi.advanceTimersByTimeAsync(25_000);
    expect(last().sentOfType("ping")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(25_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sockets.length).toBe(2);
  });

  it("#10: a reply or thread send carries reply_to/thread_id, resent the same; read markers and notifications reach the sink", () => {
    const { conn, sink, last } = setup();
    conn.start();
    goLive(last());
    conn.send("r1", "c-thread", "in a thread", { thread_id: "root" });
    conn.send("r1", "c-reply", "a reply", { reply_to: "m1" });
    expect(last().sentOfType("send")).toEqual([
      { type: "send", room_id: "r1", client_id: "c-thread", body: "in a thread", thread_id: "root" },
      { type: "send", room_id: "r1", client_id: "c-reply", body: "a reply", reply_to: "m1" },
    ]);
    // After a reconnect, unacknowledged sends go again with the same fields.
    last().drop(1006);
    vi.advanceTimersByTime(1000);
    goLive(last());
    expect(last().sentOfType("send").map((f) => [f.client_id, f.thread_id ?? f.reply_to])).toEqual([
      ["c-thread", "root"],
      ["c-reply", "m1"],
    ]);
    last().receive({ type: "read_marker", room_id: "r1", seq: 7 });
    last().receive({ type: "notification", room_id: "r1", message: message("m9", 9, "p") });
    expect(sink.markers).toEqual([{ roomId: "r1", seq: 7 }]);
    expect(sink.notifications).toEqual(["m9"]);
  });

  // Issue #14: a big room is followed by counts, on every socket (a reconnect asks again).
  it("asks for counts where told to, again after a reconnect, and hands the counts to the sink", async () => {
    const { conn, last, sink } = setup();
    conn.start();
    conn.subscribe("big", 0, "counts");
    conn.subscribe("small", 0);
    goLive(last());
    const asked = () => last().sentOfType("subscribe").map((f) => [f.room_id, f.presence]);
    expect(asked()).toEqual([
      ["big", "counts"],
      ["small", undefined],
    ]);
    last().receive({ type: "subscribed", room_id: "big", last_seq: 0, online: [], online_count: 2481 });
    last().receive({ type: "presence", room_id: "big", joined: [], left: [], online_count: 2482 });
    expect(sink.onlines).toEqual([{ roomId: "big", online: [], count: 2481 }]);
    expect(sink.counts).toEqual([{ roomId: "big", count: 2482 }]);

    last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    goLive(last());
    expect(asked()).toEqual([
      ["big", "counts"],
      ["small", undefined],
    ]);
  });

  // #13: a call survives a dropped socket: it is joined again once the room is resubscribed.
  it("joins a call only after the room is subscribed on the socket, and again after a reconnect", async () => {
    const { conn, last, sockets } = setup();
    conn.start();
    conn.subscribe("r1", 0);
    goLive(last());
    conn.joinCall("r1");
    expect(last().sentOfType("call.join")).toEqual([]);
    last().receive({ type: "subscribed", room_id: "r1", last_seq: 0, online: [] });
    expect(last().sentOfType("call.join")).toEqual([{ type: "call.join", room_id: "r1" }]);

    last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sockets).toHaveLength(2);
    goLive(last());
    expect(last().sentOfType("call.join")).toEqual([]);
    last().receive({ type: "subscribed", room_id: "r1", last_seq: 0, online: [] });
    expect(last().sentOfType("call.join")).toEqual([{ type: "call.join", room_id: "r1" }]);

    conn.callSignal("r1", "u-bob", { candidate: "c" });
    conn.leaveCall();
    expect(last().sentOfType("call.signal")).toEqual([{ type: "call.signal", room_id: "r1", to: "u-bob", data: { candidate: "c" } }]);
    expect(last().sentOfType("call.leave")).toEqual([{ type: "call.leave", room_id: "r1" }]);
    last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    goLive(last());
    last().receive({ type: "subscribed", room_id: "r1", last_seq: 0, online: [] });
    expect(last().sentOfType("call.join")).toEqual([]);
  });

  // Issue #15 item 2: a poller is online, sees who else is and who types, and learns it was removed.
  it("long polling passes each room's live token back and hands online (once per change) and typing to the sink", async () => {
    const s = setup({
      events: pollServer({
        r1: [
          { events: [], last_seq: 0, online: [alice, bob], typing: [bob], live: "t1" },
          // A message, nobody came or went: the same token, so no new online list.
          { events: [created(1)], last_seq: 1, online: [alice, bob], typing: [], live: "t1" },
          { events: [], last_seq: 1, online: [alice], typing: [], live: "t2" },
        ],
        r2: [{ events: [], last_seq: 0, online: [alice, bob], typing: [], live: "u1" }],
      }),
    });
    await startPolling(s, ["r1", "r2"]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(livesSent(s.api, "r1").slice(0, 4)).toEqual(["", "t1", "t1", "t2"]);
    // The unfocused room (wait=0 every 10 s) passes it too: that keeps this person online there.
    expect(s.api.events).toHaveBeenCalledWith("r2", expect.objectContaining({ wait: 0 }), expect.anything());
    expect(livesSent(s.api, "r2").slice(0, 2)).toEqual(["", "u1"]);
    expect(s.sink.onlines.filter((o) => o.roomId === "r1").map((o) => o.online)).toEqual([["alice", "bob"], ["alice"]]);
    expect(s.sink.onlines.filter((o) => o.roomId === "r2").map((o) => o.online)).toEqual([["alice", "bob"]]);
    expect(s.sink.typers).toEqual([{ roomId: "r1", username: "bob" }]);
    expect(s.sink.seqs()).toEqual([1]);
  });

  it("a new spell of polling starts from an empty live token, so the first answer says who is online now", async () => {
    const s = setup({
      events: pollServer({ r1: [{ events: [], last_seq: 0, online: [alice], typing: [], live: "t1" }] }),
    });
    await startPolling(s, ["r1"]);
    await vi.advanceTimersByTimeAsync(0);
    expect(livesSent(s.api, "r1").slice(0, 2)).toEqual(["", "t1"]);
    // The socket works again for a while (its `subscribed` frames say who is online), then fails.
    await vi.advanceTimersByTimeAsync(60_000);
    goLive(s.last());
    expect(s.conn.state).toBe("live");
    const before = livesSent(s.api, "r1").length;
    s.last().drop(1006);
    await vi.advanceTimersByTimeAsync(1_000);
    s.last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    // Tried once more after the probe (it worked since the last spell), and failed again.
    s.last().drop(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.conn.state).toBe("polling");
    expect(livesSent(s.api, "r1")[before]).toBe("");
  });

  it("long polling stops for a room the answer says this person was removed from, and tells the sink", async () => {
    const kicked: Event = { room_id: "r1", seq: 1, at: "2026-01-01T00:00:01Z", kind: "member.kicked", user: alice, by: bob };
    const s = setup({
      events: pollServer({ r1: [{ events: [kicked], last_seq: 1, online: [bob], typing: [], live: "t1", removed: "kicked" }] }),
    });
    await startPolling(s, ["r1"]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(s.sink.seqs()).toEqual([1]);
    expect(s.sink.removals).toEqual([{ roomId: "r1", reason: "kicked" }]);
    expect(s.api.events).toHaveBeenCalledTimes(1);
    expect(s.conn.lastSeq("r1")).toBeUndefined();
  });

  it("long polling stops for a room once its room.deleted event is passed on", async () => {
    const deleted: Event = { room_id: "r1", seq: 1, at: "2026-01-01T00:00:01Z", kind: "room.deleted", by: bob };
    const s = setup({
      events: pollServer({
        r1: [
          { events: [deleted], last_seq: 1, online: [], typing: [], live: "t1" },
          new ApiError(404, "room_not_found", "No such room"),
        ],
      }),
    });
    await startPolling(s, ["r1"]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(s.sink.seqs()).toEqual([1]);
    expect(s.api.events).toHaveBeenCalledTimes(1);
    expect(s.conn.lastSeq("r1")).toBeUndefined();
  });
});
