/**
 * The wire types of API version 1, as the web client uses them.
 *
 * The types come from `protocol.gen.ts`, which is generated from the Rust protocol module
 * (`src/protocol.rs`, ts-rs) and checked by the server's tests, so client and server can't
 * drift. Only the few constants the generator doesn't carry live here.
 */
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
