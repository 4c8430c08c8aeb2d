/**
 * The wire types of API version 1, as the web client uses them.
 *
 * The types come from `protocol.gen.ts`, which is generated from the Rust protocol module
 * (`src/protocol.rs`, ts-rs) and checked by the server's tests, so client and server can't
 * drift. Only the few constants the generator doesn't carry live here.
 */
import type { Event as GeneratedEvent, Role as GeneratedRole, Room as GeneratedRoom, ServerFrame as GeneratedFrame, User as GeneratedUser } from "./protocol.gen";

export type {
  AuthResponse,
  ClientFrame,
  ErrorBody,
  Event,
  EventKind,
  EventPage,
  Member,
  Message,
  MessagePage,
  Rearrange,
  Role,
  Room,
  RoomListChange,
  ServerFrame,
  User,
  FileInfo,
} from "./protocol.gen";

/** WebSocket close codes of the protocol. */
export const CloseCode = {
  GoingAway: 1001,
  Policy: 1008,
  TooLarge: 1009,
  SlowConsumer: 4008,
} as const;

/** The longest message body the server accepts (after trimming). */
export const MAX_BODY_CHARS = 4000;

// ---- issue #9 shapes the generated file doesn't carry (yet) ------------------------------------
// The server branches add these to the Rust protocol; until their generated types land, the UI
// names them here, exactly as API.md "Next" #9 and the lead's decisions spell them. Should the
// generated `Event`/`ServerFrame` gain the same variants, the unions below simply overlap.

type EventHead = { room_id: string; seq: number; at: string };

/** Who did it: the events carry a user (older builds might carry just an id). */
export type Actor = GeneratedUser | string | null | undefined;

export type ModerationEventKind =
  | { kind: "member.role_changed"; user: GeneratedUser; role: GeneratedRole; by: Actor }
  | { kind: "member.kicked"; user: GeneratedUser; by: Actor }
  | { kind: "member.banned"; user: GeneratedUser; by: Actor; expires_at: string | null }
  | { kind: "member.unbanned"; user: GeneratedUser; by: Actor }
  | { kind: "member.muted"; user: GeneratedUser; by: Actor; expires_at: string | null }
  | { kind: "member.unmuted"; user: GeneratedUser; by: Actor };

/** Every room event the UI understands: the generated ones and the moderation ones. */
export type RoomEvent = GeneratedEvent | (EventHead & ModerationEventKind);

export type RemovalReason = "kicked" | "banned" | "left" | "deleted";

/** Every server frame the UI understands. */
export type AnyServerFrame =
  | Exclude<GeneratedFrame, { type: "event" }>
  | { type: "event"; event: RoomEvent }
  | { type: "removed"; room_id: string; reason: RemovalReason }
  | { type: "report"; room_id: string; report: unknown };

export type RegisterResponse = { user: GeneratedUser; token: string; first_admin?: boolean };

export type Invite = { code: string; url: string; expires_at: string | null; max_uses: number | null };
export type InviteInfo = {
  code: string;
  room: GeneratedRoom;
  expires_at: string | null;
  max_uses: number | null;
  uses: number;
};
export type Profile = { user: GeneratedUser; bio: string | null; timezone: string | null; created_at: string };
export type Session = { id: string; created_at: string; last_seen_at: string | null; current: boolean };
export type ServerConfig = { allow_guests: boolean; guest_name_grace_secs: number };
export type ProfilePatch = { display_name?: string | null; bio?: string | null; timezone?: string | null };
