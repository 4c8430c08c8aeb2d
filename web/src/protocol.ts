/**
 * The wire types of API version 1 as the web client uses them.
 *
 * TEMPORARY: these mirror `/work/shared/API.md` until `protocol.gen.ts` (generated from the Rust
 * protocol module with ts-rs) lands; then this file only re-exports the generated types so the
 * two can never drift. Nothing else in the app declares frame shapes.
 */

export type User = { id: string; username: string; guest: boolean };

export type Rearrange = "anyone" | "moderators" | "nobody";

export type Room = {
  id: string;
  name: string;
  topic: string;
  owner_id: string | null;
  member_count: number;
  online_count: number;
  last_seq: number;
  rearrange: Rearrange;
  created_at: string;
};

export type Role = "owner" | "admin" | "member";

export type Member = { user: User; role: Role; online: boolean };

export type Message = {
  id: string;
  room_id: string;
  seq: number;
  author: User;
  body: string;
  client_id: string;
  created_at: string;
  edited_at: string | null;
  position: string;
};

export type EventKind =
  | { kind: "message.created"; message: Message }
  | { kind: "message.edited"; message: Message }
  | { kind: "message.deleted"; message_id: string }
  | { kind: "message.moved"; message_id: string; position: string; after: string | null }
  | { kind: "room.cleared"; by: User }
  | { kind: "member.joined"; user: User }
  | { kind: "member.left"; user: User }
  | { kind: "room.updated"; room: Room }
  | { kind: "room.deleted" };

export type Event = { room_id: string; seq: number; at: string } & EventKind;

type Ref = { ref?: unknown };

export type ClientFrame =
  | ({ type: "subscribe"; room_id: string; after?: number } & Ref)
  | ({ type: "unsubscribe"; room_id: string } & Ref)
  | ({ type: "send"; room_id: string; client_id: string; body: string } & Ref)
  | ({ type: "edit"; room_id: string; message_id: string; body: string } & Ref)
  | ({ type: "delete"; room_id: string; message_id: string } & Ref)
  | ({ type: "move"; room_id: string; message_id: string; after: string | null } & Ref)
  | ({ type: "clear"; room_id: string } & Ref)
  | { type: "typing"; room_id: string }
  | ({ type: "ping" } & Ref);

export type RoomListChange = "created" | "updated" | "deleted";

export type ServerFrame =
  | { type: "hello"; user: User; protocol: number; node_id: string }
  | { type: "subscribed"; room_id: string; last_seq: number; online: User[] }
  | { type: "unsubscribed"; room_id: string }
  | { type: "resync"; room_id: string; last_seq: number }
  | { type: "event"; event: Event }
  | { type: "ack"; client_id: string; message: Message }
  | { type: "pong"; ref?: unknown }
  | { type: "presence"; room_id: string; joined: User[]; left: User[] }
  | { type: "typing"; room_id: string; user: User }
  | { type: "room_list"; change: RoomListChange; room: Room }
  | { type: "error"; code: string; message: string; ref?: unknown; client_id?: string };

export type AuthResponse = { user: User; token: string };
export type MessagePage = { messages: Message[]; has_more: boolean };
export type EventPage = { events: Event[]; last_seq: number };
export type ErrorBody = { error: { code: string; message: string } };

/** WebSocket close codes of the protocol. */
export const CloseCode = {
  GoingAway: 1001,
  Policy: 1008,
  TooLarge: 1009,
  SlowConsumer: 4008,
} as const;

/** The longest message body the server accepts (after trimming). */
export const MAX_BODY_CHARS = 4000;
