import { describe, expect, it } from "vitest";
import type { Event } from "./protocol";
import {
  afterForMove,
  applyEvent,
  displayItems,
  displayMessages,
  emptyView,
  loadLatest,
  setOptimistic,
  unreadCount,
  type OutboxEntry,
} from "./roomState";
import { alice, bob, created, message } from "./testing";

const at = "2026-01-01T00:00:00.000Z";

function viewWith(...ms: ReturnType<typeof message>[]) {
  return loadLatest(emptyView("r1"), ms, false, Math.max(0, ...ms.map((m) => m.seq)));
}

function ids(v: ReturnType<typeof viewWith>) {
  return displayMessages(v).map((m) => m.id);
}

describe("room state", () => {
  it("orders by position, not by time or seq", () => {
    const v = viewWith(message("late", 3, "a"), message("early", 1, "c"), message("mid", 2, "b"));
    expect(ids(v)).toEqual(["late", "mid", "early"]);
  });

  it("orders positions by plain string comparison", () => {
    const v = viewWith(message("x", 1, "a0V"), message("y", 2, "a0"), message("z", 3, "Zz"));
    expect(ids(v)).toEqual(["z", "y", "x"]);
  });

  it("applying a created event for a message the snapshot already has changes nothing", () => {
    const m = message("m1", 1, "a");
    const v = viewWith(m);
    const again = applyEvent(v, created(1, m));
    expect(ids(again)).toEqual(["m1"]);
  });

  it("replaying events over a newer snapshot converges to the log", () => {
    const m1 = message("m1", 1, "a");
    const m2 = message("m2", 3, "b");
    // Snapshot taken after everything: m1 edited, m2 exists.
    const snap = viewWith({ ...m1, body: "edited", edited_at: at }, m2);
    const events: Event[] = [
      { room_id: "r1", seq: 2, at, kind: "message.edited", message: { ...m1, body: "edited", edited_at: at } },
      created(3, m2),
    ];
    const v = events.reduce(applyEvent, snap);
    expect(displayMessages(v).map((m) => m.body)).toEqual(["edited", m2.body]);
  });

  it("moves, deletes and clears", () => {
    let v = viewWith(message("a", 1, "a"), message("b", 2, "b"), message("c", 3, "c"));
    v = applyEvent(v, { room_id: "r1", seq: 4, at, kind: "message.moved", message_id: "c", position: "a5", after: "a" });
    expect(ids(v)).toEqual(["a", "c", "b"]);
    v = applyEvent(v, { room_id: "r1", seq: 5, at, kind: "message.deleted", message_id: "a" });
    expect(ids(v)).toEqual(["c", "b"]);
    v = applyEvent(v, { room_id: "r1", seq: 6, at, kind: "room.cleared", by: bob });
    expect(ids(v)).toEqual([]);
    expect(v.notices.map((n) => n.text)).toEqual(["bob cleared the room"]);
    expect(v.seq).toBe(6);
  });

  it("a snapshot older than live events keeps the messages those events brought", () => {
    // The socket delivered seq 4 while the page (as of seq 3) was being fetched.
    let v = applyEvent(emptyView("r1"), created(4, message("live", 4, "d")));
    v = loadLatest(v, [message("a", 2, "a"), message("b", 3, "b")], false, 3);
    expect(ids(v)).toEqual(["a", "b", "live"]);
    expect(v.seq).toBe(4);
  });

  it("drops a message moved above the loaded page when older pages exist", () => {
    let v = loadLatest(emptyView("r1"), [message("b", 5, "m"), message("c", 6, "n")], true, 6);
    v = applyEvent(v, { room_id: "r1", seq: 7, at, kind: "message.moved", message_id: "c", position: "a", after: null });
    expect(ids(v)).toEqual(["b"]);
  });

  it("shows an optimistic move at once and lets the server's move replace it", () => {
    let v = viewWith(message("a", 1, "a"), message("b", 2, "b"), message("c", 3, "c"));
    v = setOptimistic(v, "c", { after: null });
    expect(ids(v)).toEqual(["c", "a", "b"]);
    v = applyEvent(v, { room_id: "r1", seq: 4, at, kind: "message.moved", message_id: "c", position: "0", after: null });
    expect(v.optimistic).toEqual({});
    expect(ids(v)).toEqual(["c", "a", "b"]);
  });

  it("computes where a message lands when moved to an index", () => {
    const list = [message("a", 1, "a"), message("b", 2, "b"), message("c", 3, "c")];
    expect(afterForMove(list, "c", 0)).toBeNull();
    expect(afterForMove(list, "c", 1)).toBe("a");
    expect(afterForMove(list, "a", 1)).toBe("b");
    expect(afterForMove(list, "a", 2)).toBe("c");
    expect(afterForMove(list, "a", 0)).toBeUndefined();
    expect(afterForMove(list, "a", 3)).toBeUndefined();
  });

  it("shows an unsent message once: as pending until its own message arrives", () => {
    const entry: OutboxEntry = { clientId: "c-1", roomId: "r1", body: "hi", createdAt: at, state: "pending" };
    let v = viewWith(message("a", 1, "a", bob));
    expect(displayItems(v, [entry], alice).map((i) => i.type)).toEqual(["message", "pending"]);
    v = applyEvent(v, created(2, { ...message("m2", 2, "b"), client_id: "c-1" }));
    const items = displayItems(v, [entry], alice);
    expect(items.map((i) => i.type)).toEqual(["message", "message"]);
    // Stable key: the pending line turns into the sent message without remounting.
    expect(items[1].key).toBe(`c:${alice.id}:c-1`);
  });

  it("anchors join and leave notices after the last message", () => {
    let v = viewWith(message("a", 1, "a"));
    v = applyEvent(v, { room_id: "r1", seq: 2, at, kind: "member.joined", user: bob });
    v = applyEvent(v, created(3, message("b", 3, "b")));
    expect(displayItems(v, [], alice).map((i) => (i.type === "notice" ? i.notice.text : i.key))).toEqual([
      "c:u-alice:c-a",
      "bob joined",
      "c:u-alice:c-b",
    ]);
  });

  it("counts unread messages from others after the read mark", () => {
    const v = viewWith(message("a", 1, "a", bob), message("b", 2, "b", alice), message("c", 3, "c", bob));
    expect(unreadCount(v, 0, alice)).toBe(2);
    expect(unreadCount(v, 1, alice)).toBe(1);
    expect(unreadCount(v, 3, alice)).toBe(0);
  });

  it("clears a typing indicator when that person's message arrives", () => {
    let v = viewWith();
    v = { ...v, typing: { [bob.id]: { user: bob, until: Date.now() + 5000 } } };
    v = applyEvent(v, created(1, message("m", 1, "a", bob)));
    expect(v.typing).toEqual({});
  });
});
