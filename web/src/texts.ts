/**
 * Pure rules the controller follows about what the server said: clear words for refusals and
 * removals, and how a room object from a shared frame merges with what we know. Unit-tested.
 */
import type { RemovalReason, Room } from "./protocol";

/** Clear words for the refusals people meet most; the server's message for the rest. */
export function friendlyError(code: string, message: string): string {
  switch (code) {
    case "muted":
      return "You are muted in this room";
    case "banned":
      return "You are banned from this room";
    case "forbidden":
      return "You don't have permission to do that";
    case "user_not_found":
      return "There's no one by that name";
    case "room_not_found":
      return "That room doesn't exist or you can't see it";
    case "invite_expired":
      return "This invite has expired or was used up";
    case "cannot_moderate_self":
      return "You can't do that to yourself";
    case "cannot_moderate_user":
      return "You can't do that to them: they moderate this room too";
    case "too_many_members":
      return "A direct conversation holds at most 8 people";
    case "rate_limited":
      return "Too fast — wait a moment and try again";
    default:
      return message;
  }
}

/**
 * A room object from a frame shared by many people (`room_list`, `room.updated`) says
 * `member: false, my_role: null` for everyone: keep what we know about ourselves.
 */
export function mergeShared(prev: Room | undefined, next: Room): Room {
  if (!prev) return next;
  return { ...next, member: prev.member || next.member, my_role: next.my_role ?? prev.my_role };
}

export function removalText(reason: RemovalReason, name: string): string | null {
  switch (reason) {
    case "kicked":
      return `You were removed from ${name}`;
    case "banned":
      return `You were banned from ${name}`;
    case "deleted":
      return `${name} was deleted`;
    case "left":
      return null; // this person's own doing (in another tab): nothing to explain
  }
}

/** What the members of a deleted room are told: "Book Club was deleted by alice" (#15). */
export function roomDeletedText(name: string, by: string | undefined): string {
  return by ? `${name} was deleted by ${by}` : `${name} was deleted`;
}

/** "Guest names are kept for 15 minutes after you sign out; …" from the server's settings. */
export function guestGraceText(graceSecs: number | undefined): string {
  if (graceSecs === undefined) return "Guest names are freed after you sign out; set a password to keep yours.";
  const minutes = Math.round(graceSecs / 60);
  const span =
    graceSecs < 60
      ? `${graceSecs} second${graceSecs === 1 ? "" : "s"}`
      : minutes < 120
        ? `${minutes} minute${minutes === 1 ? "" : "s"}`
        : `${Math.round(minutes / 60)} hours`;
  return `Guest names are kept for ${span} after you sign out; set a password to keep yours.`;
}

/** Roughly how tall a message body renders, in lines: long ones collapse behind "Show more". */
export function roughLines(body: string): number {
  let lines = 0;
  for (const line of body.split("\n")) lines += 1 + Math.floor(line.length / 90);
  return lines;
}

/** Bodies taller than this (in `roughLines`) start collapsed. */
export const COLLAPSE_LINES = 16;

/** A one-line preview of a body for a reply quote: markdown marks dropped, spaces squeezed. */
export function previewText(body: string, max = 160): string {
  const text = body.replace(/```[\w+-]*\n?/g, "").replace(/[*_~`>]+/g, "").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
