import { describe, expect, it } from "vitest";
import type { Room } from "./protocol";
import { friendlyError, guestGraceText, mergeShared, removalText, roomDeletedText } from "./texts";

const base: Room = {
  id: "r1",
  name: "Book Club",
  topic: "",
  owner_id: "u-alice",
  member_count: 2,
  online_count: 1,
  last_seq: 4,
  rearrange: "anyone",
  mention_everyone: "anyone",
  created_at: "2026-01-01T00:00:00.000Z",
  kind: "private",
  member: true,
  my_role: "moderator",
  pins: "moderators",
};

describe("what the client says", () => {
  it("keeps my membership and role when a shared frame says false/null", () => {
    const shared = { ...base, topic: "new", member_count: 3, member: false, my_role: null };
    expect(mergeShared(base, shared)).toEqual({ ...base, topic: "new", member_count: 3 });
    expect(mergeShared(undefined, shared)).toEqual(shared);
    // A personal answer with a new role wins.
    expect(mergeShared(base, { ...base, my_role: "member" }).my_role).toBe("member");
  });

  it("explains a removal, except one's own leaving", () => {
    expect(removalText("kicked", "Book Club")).toBe("You were removed from Book Club");
    expect(removalText("banned", "Book Club")).toBe("You were banned from Book Club");
    expect(removalText("deleted", "Book Club")).toBe("Book Club was deleted");
    expect(removalText("left", "Book Club")).toBeNull();
  });

  it("puts refusals in plain words", () => {
    expect(friendlyError("muted", "x")).toBe("You are muted in this room");
    expect(friendlyError("banned", "x")).toBe("You are banned from this room");
    expect(friendlyError("something_new", "The server's words")).toBe("The server's words");
  });

  it("says how long a guest name is kept", () => {
    expect(guestGraceText(900)).toBe("Guest names are kept for 15 minutes after you sign out; set a password to keep yours.");
    expect(guestGraceText(60)).toMatch(/for 1 minute after/);
    expect(guestGraceText(30)).toMatch(/for 30 seconds after/);
    expect(guestGraceText(86_400)).toMatch(/for 24 hours after/);
    expect(guestGraceText(undefined)).toMatch(/freed after you sign out/);
  });

  it("says who deleted a room, when the server names them", () => {
    expect(roomDeletedText("Book Club", "alice")).toBe("Book Club was deleted by alice");
    expect(roomDeletedText("Book Club", undefined)).toBe("Book Club was deleted");
  });
});
