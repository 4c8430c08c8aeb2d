import { describe, expect, it } from "vitest";
import { displayName, dmOthers, dmTitle, inviteCodeFromPath, inviteLink, localTime, moderates, roleBadge } from "./names";
import type { Room, User } from "./protocol";
import { alice, bob } from "./testing";

const carol: User = { ...alice, id: "u-carol", username: "carol", display_name: "Carol King" };

function room(patch: Partial<Room> = {}): Room {
  return {
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
    pins: "moderators",
    ...patch,
  };
}

describe("names", () => {
  it("a display name wins over the username unless blank", () => {
    expect(displayName(carol)).toBe("Carol King");
    expect(displayName(alice)).toBe("alice");
    expect(displayName({ username: "x1", display_name: "   " })).toBe("x1");
  });

  it("a DM is named after the other people, by display name when known", () => {
    const dm = { name: "alice, bob, carol" };
    expect(dmTitle(dm, "alice")).toBe("bob, carol");
    expect(dmTitle(dm, "ALICE", { carol })).toBe("bob, Carol King");
    expect(dmTitle({ name: "alice, bob" }, "bob")).toBe("alice");
    expect(dmTitle({ name: "alice" }, "alice")).toBe("alice");
    expect(dmOthers(dm, "bob")).toEqual(["alice", "carol"]);
  });

  it("reads the invite code from the path", () => {
    expect(inviteCodeFromPath("/invite/AbC-12_x")).toBe("AbC-12_x");
    expect(inviteCodeFromPath("/invite/AbC12/")).toBe("AbC12");
    expect(inviteCodeFromPath("/invite/")).toBeNull();
    expect(inviteCodeFromPath("/invite/a/b")).toBeNull();
    expect(inviteCodeFromPath("/invite/a%2Fb")).toBeNull();
    expect(inviteCodeFromPath("/")).toBeNull();
    expect(inviteCodeFromPath("/rooms/invite/abc")).toBeNull();
  });

  it("makes the full invite link from the server's path", () => {
    expect(inviteLink("https://chat.example", "/invite/abc")).toBe("https://chat.example/invite/abc");
    expect(inviteLink("https://chat.example/", "invite/abc")).toBe("https://chat.example/invite/abc");
    expect(inviteLink("https://chat.example", "https://other.example/invite/abc")).toBe("https://other.example/invite/abc");
  });

  it("moderators are owners, admins, moderators and site admins", () => {
    expect(moderates(room({ my_role: "member" }), alice)).toBe(false);
    expect(moderates(room({ my_role: null, member: false }), alice)).toBe(false);
    expect(moderates(room({ my_role: "moderator" }), alice)).toBe(true);
    expect(moderates(room({ my_role: "admin" }), alice)).toBe(true);
    expect(moderates(room({ my_role: "member", owner_id: alice.id }), alice)).toBe(true);
    expect(moderates(room({ my_role: "member" }), { ...bob, admin: true })).toBe(true);
    expect(moderates(undefined, alice)).toBe(false);
    expect(roleBadge("moderator")).toBe("mod");
    expect(roleBadge("member")).toBeNull();
  });

  it("tells the local time in a zone, and nothing for a bad zone", () => {
    const at = new Date(Date.UTC(2026, 0, 1, 12, 0));
    expect(localTime("Asia/Tokyo", at, "en-GB")).toMatch(/^21:00$/);
    expect(localTime("UTC", at, "en-GB")).toMatch(/^12:00$/);
    expect(localTime("Not/AZone", at)).toBeNull();
    expect(localTime(null, at)).toBeNull();
  });
});
