/** How people and rooms are named on screen, and the `/invite/{code}` route. Pure functions. */
import type { Role, Room, User } from "./protocol";

/** The name to show for a person: their display name, else their username. */
export function displayName(user: Pick<User, "username" | "display_name">): string {
  const name = user.display_name?.trim();
  return name ? name : user.username;
}

/**
 * The title of a direct conversation for `me`: the other participants' display names (when
 * known), in the order of the room's name, which the server makes from the usernames joined
 * with ", ". A conversation with only yourself is named after you.
 */
export function dmTitle(room: Pick<Room, "name">, meUsername: string | undefined, known: Record<string, User> = {}): string {
  const names = room.name
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const me = meUsername?.toLowerCase();
  const others = names.filter((n) => n.toLowerCase() !== me);
  const shown = (others.length ? others : names).map((n) => {
    const user = known[n.toLowerCase()];
    return user ? displayName(user) : n;
  });
  return shown.join(", ");
}

/** The participants of a direct conversation other than `me` (usernames). */
export function dmOthers(room: Pick<Room, "name">, meUsername: string | undefined): string[] {
  const me = meUsername?.toLowerCase();
  return room.name
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n && n.toLowerCase() !== me);
}

/** The title a room goes by for this person. */
export function roomTitle(room: Room, me: User | null, known: Record<string, User> = {}): string {
  return room.kind === "direct" ? dmTitle(room, me?.username, known) : room.name;
}

/** The invite code in a path like `/invite/AbC123`, or null. */
export function inviteCodeFromPath(pathname: string): string | null {
  const m = /^\/invite\/([A-Za-z0-9_-]{1,128})\/?$/.exec(pathname);
  return m ? m[1] : null;
}

/** The full link of an invite whose `url` is a path on this server. */
export function inviteLink(origin: string, url: string): string {
  if (/^https?:\/\//.test(url)) return url;
  return origin.replace(/\/$/, "") + (url.startsWith("/") ? url : `/${url}`);
}

/** Whether this person moderates the room: owner, room admin or moderator, or a site admin. */
export function moderates(room: Pick<Room, "my_role" | "owner_id"> | undefined, me: User | null): boolean {
  if (!room || !me) return false;
  if (me.admin) return true;
  if (room.owner_id !== null && room.owner_id === me.id) return true;
  return room.my_role === "owner" || room.my_role === "admin" || room.my_role === "moderator";
}

/** A short badge for a room role, or null for plain members. */
export function roleBadge(role: Role): string | null {
  switch (role) {
    case "owner":
      return "owner";
    case "admin":
      return "admin";
    case "moderator":
      return "mod";
    default:
      return null;
  }
}

/** The time of day where someone is ("14:05"), or null when the zone is unknown or invalid. */
export function localTime(timezone: string | null | undefined, now: Date, locale?: string): string | null {
  if (!timezone) return null;
  try {
    return new Intl.DateTimeFormat(locale, { timeZone: timezone, hour: "2-digit", minute: "2-digit" }).format(now);
  } catch {
    return null;
  }
}

/** This browser's IANA time zone, or null when it can't tell. */
export function browserTimeZone(): string | null {
  try {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return tz && tz.length <= 64 ? tz : null;
  } catch {
    return null;
  }
}

/** The name an event's actor goes by (a user, or just an id when that is all it carries). */
export function actorName(by: User | string | null | undefined): string {
  if (!by) return "someone";
  return typeof by === "string" ? "a moderator" : displayName(by);
}
