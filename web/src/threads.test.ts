import { describe, expect, it } from "vitest";
import { extras, type Message, type RoomEvent } from "./protocol";
import { applyEvent, applyThreadEvent, displayItems, emptyThread, emptyView, firstUnreadId, loadLatest, withReaction } from "./roomState";
import { mentionCompletion } from "./slash";
import { alice, bob, created, message } from "./testing";

const at = "2026-01-01T00:00:00.000Z";

function reply(id: string, seq: number, rootId: string, author = bob): Message {
  return { ...message(id, seq, `t${seq}`, author), thread_id: rootId } as Message;
}

describe("threads in room state", () => {
  it("a thread reply stays out of the room and counts on its root", () => {
    const root = message("root", 1, "a");
    let v = loadLatest(emptyView("r1"), [root], false, 1);
    v = applyEvent(v, created(2, reply("r2", 2, "root")));
    const last = reply("r3", 3, "root");
    v = applyEvent(v, created(3, last));
    expect(Object.keys(v.messages)).toEqual(["root"]);
    expect(extras(v.messages.root).thread).toEqual({ reply_count: 2, last_reply_at: last.created_at });
    expect(v.seq).toBe(3);
  });

  it("takes the root's summary from the events when they carry it (created and deleted replies)", () => {
    const root = message("root", 1, "a");
    let v = loadLatest(emptyView("r1"), [root], false, 1);
    const summary = { reply_count: 5, last_reply_at: "2026-01-02T00:00:00.000Z" };
    v = applyEvent(v, { ...created(2, reply("r2", 2, "root")), thread: summary } as RoomEvent);
    expect(extras(v.messages.root).thread).toEqual(summary);
    const fewer = { reply_count: 4, last_reply_at: "2026-01-01T00:00:00.000Z" };
    v = applyEvent(v, { room_id: "r1", seq: 3, at, kind: "message.deleted", message_id: "r2", thread_id: "root", thread: fewer });
    expect(extras(v.messages.root).thread).toEqual(fewer);
    v = applyEvent(v, { room_id: "r1", seq: 4, at, kind: "message.deleted", message_id: "r9", thread_id: "root" });
    expect(extras(v.messages.root).thread).toBeNull();
    expect(Object.keys(v.messages)).toEqual(["root"]);
  });

  it("a thread view takes its own replies and no one else's", () => {
    let t = emptyThread("r1", "root");
    t = applyThreadEvent(t, created(2, reply("r2", 2, "root")));
    t = applyThreadEvent(t, created(3, reply("x3", 3, "other")));
    t = applyThreadEvent(t, created(4, message("m4", 4, "b")));
    expect(Object.keys(t.messages)).toEqual(["r2"]);
    t = applyThreadEvent(t, { room_id: "r1", seq: 5, at, kind: "message.deleted", message_id: "r2" });
    expect(Object.keys(t.messages)).toEqual([]);
  });

  it("pending thread replies are not shown in the room", () => {
    const v = loadLatest(emptyView("r1"), [], false, 0);
    const outbox = [
      { clientId: "c1", roomId: "r1", body: "in thread", createdAt: at, state: "pending" as const, threadId: "root" },
      { clientId: "c2", roomId: "r1", body: "in room", createdAt: at, state: "pending" as const },
    ];
    expect(displayItems(v, outbox, alice).map((i) => (i.type === "pending" ? i.entry.body : ""))).toEqual(["in room"]);
  });
});

describe("reactions and pins", () => {
  const added = (seq: number, emoji: string, user = bob): RoomEvent => ({ room_id: "r1", seq, at, kind: "reaction.added", message_id: "m1", emoji, user });
  const removed = (seq: number, emoji: string, user = bob): RoomEvent => ({ room_id: "r1", seq, at, kind: "reaction.removed", message_id: "m1", emoji, user });

  it("counts reactions per emoji with who reacted; a repeat changes nothing", () => {
    let v = loadLatest(emptyView("r1"), [message("m1", 1, "a")], false, 1);
    v = applyEvent(v, added(2, "🎉"));
    v = applyEvent(v, added(3, "🎉", alice));
    v = applyEvent(v, added(4, "👍"));
    expect(extras(v.messages.m1).reactions).toEqual([
      { emoji: "🎉", count: 2, user_ids: [bob.id, alice.id] },
      { emoji: "👍", count: 1, user_ids: [bob.id] },
    ]);
    const same = withReaction(v.messages.m1, "🎉", bob.id, true);
    expect(same).toBe(v.messages.m1);
    v = applyEvent(v, removed(5, "👍"));
    v = applyEvent(v, removed(6, "🎉"));
    expect(extras(v.messages.m1).reactions).toEqual([{ emoji: "🎉", count: 1, user_ids: [alice.id] }]);
  });

  it("pins and unpins", () => {
    let v = loadLatest(emptyView("r1"), [message("m1", 1, "a")], false, 1);
    v = applyEvent(v, { room_id: "r1", seq: 2, at, kind: "message.pinned", message_id: "m1", by: alice });
    expect(extras(v.messages.m1).pinned).toBe(true);
    v = applyEvent(v, { room_id: "r1", seq: 3, at, kind: "message.unpinned", message_id: "m1", by: alice });
    expect(extras(v.messages.m1).pinned).toBe(false);
  });
});

describe("the divider", () => {
  it("goes before the first message after the read marker written by someone else", () => {
    const ms = [message("a", 1, "a", bob), message("b", 2, "b", alice), message("c", 3, "c", bob)];
    expect(firstUnreadId(ms, 1, alice)).toBe("c");
    expect(firstUnreadId(ms, 0, alice)).toBe("a");
    expect(firstUnreadId(ms, 3, alice)).toBeNull();
    expect(firstUnreadId(ms, undefined, alice)).toBeNull();
  });
});

describe("@mention completion", () => {
  const people = [
    { username: "alice", label: "Alice A." },
    { username: "albert", label: "albert" },
    { username: "bob", label: "Bob" },
  ];
  it("offers people then @here/@room for the word at the caret", () => {
    expect(mentionCompletion("hey @al", people)?.items.map((i) => (i.kind === "user" ? i.username : ""))).toEqual(["alice", "albert"]);
    expect(mentionCompletion("hey @al", people)?.start).toBe(4);
    expect(mentionCompletion("@", people)?.items.map((i) => (i.kind === "user" ? i.username : ""))).toEqual(["alice", "albert", "bob", "here", "room"]);
    expect(mentionCompletion("@he", people)?.items.map((i) => (i.kind === "user" ? i.username : ""))).toEqual(["here"]);
  });
  it("stays quiet in an email address or a finished word", () => {
    expect(mentionCompletion("mail a@al", people)).toBeNull();
    expect(mentionCompletion("hey @alice ", people)).toBeNull();
    expect(mentionCompletion("@zz", people)).toBeNull();
  });
});
