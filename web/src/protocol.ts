/**
 * The wire types of API version 1, as the web client uses them.
 *
 * The types come from `protocol.gen.ts`, which is generated from the Rust protocol module
 * (`src/protocol.rs`, ts-rs) and checked by the server's tests, so client and server can't
 * drift. Only the few constants the generator doesn't carry live here.
 */
import type { Event as GeneratedEvent, Message as GeneratedMessage, Reaction, ThreadSummary, Role as GeneratedRole, Room as GeneratedRoom, ServerFrame as GeneratedFrame, User as GeneratedUser } from "./protocol.gen";

export type {
  AuthResponse,
  ClientFrame,
  ErrorBody,
  Event,
  EventKind,
  EventPage,
  Member,
  Message,
  PresenceMode,
  MessagePage,
  Rearrange,
  Role,
  Room,
  RoomListChange,
  SearchHit,
  SearchResults,
  ServerFrame,
  User,
  FileInfo,
  IceServer,
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
export type RoomEvent = GeneratedEvent | (EventHead & ModerationEventKind) | (EventHead & Events10);

export type RemovalReason = "kicked" | "banned" | "left" | "deleted";

/** Every server frame the UI understands. */
export type AnyServerFrame =
  | Exclude<GeneratedFrame, { type: "event" }>
  | { type: "event"; event: RoomEvent }
  | { type: "removed"; room_id: string; reason: RemovalReason }
  | { type: "report"; room_id: string; report: unknown }
  | Frames10;

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

// ---- issue #10 shapes (replies, threads, reactions, pins, mentions, unread, notifications) -----
// Named exactly as API.md "Next" #10 spells them. The server branches add them to the generated
// types; until then (and for messages stored before them) every field is optional here, and the
// helpers below read them with their defaults.

export type { Reaction, ThreadSummary } from "./protocol.gen";

/** The message fields #10 adds (absent on old rows: read them through the helpers). */
export type MessageExtras = {
  reply_to?: string | null;
  thread_id?: string | null;
  thread?: ThreadSummary | null;
  reactions?: Reaction[];
  pinned?: boolean;
  mentions?: string[];
};

export type NotificationLevel = "all" | "mentions" | "nothing";
export type UnreadEntry = {
  room_id: string;
  last_read_seq: number;
  unread: number;
  mentions: number;
  /** The room's last seq, and this person's notification level there (feat-unread adds them). */
  last_seq?: number;
  notifications?: NotificationLevel;
};

export type Events10 =
  | { kind: "reaction.added"; message_id: string; emoji: string; user: GeneratedUser }
  | { kind: "reaction.removed"; message_id: string; emoji: string; user: GeneratedUser }
  | { kind: "message.pinned"; message_id: string; by: Actor }
  | { kind: "message.unpinned"; message_id: string; by: Actor };

export type Frames10 =
  | { type: "read_marker"; room_id: string; seq: number }
  | { type: "notification"; room_id: string; message: GeneratedMessage };


/** A message with the #10 fields read (missing ones at their defaults). */
export function extras(m: GeneratedMessage): Required<MessageExtras> {
  const x = m as GeneratedMessage & MessageExtras;
  return {
    reply_to: x.reply_to ?? null,
    thread_id: x.thread_id ?? null,
    thread: x.thread ?? null,
    reactions: x.reactions ?? [],
    pinned: x.pinned ?? false,
    mentions: x.mentions ?? [],
  };
}
