/** Fakes shared by the unit tests (not part of the app bundle: nothing imports it outside tests). */
import type { ConnectionSink, SocketLike } from "./connection";
import type { Event, Message, User } from "./protocol";

export class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** The server side closes (or the network drops). */
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  sentOfType(type: string) {
    return this.sent.filter((f) => f.type === type);
  }
}

export const alice: User = { id: "u-alice", username: "alice", guest: false, admin: false, display_name: null, bot: false };
export const bob: User = { id: "u-bob", username: "bob", guest: false, admin: false, display_name: null, bot: false };

export function message(id: string, seq: number, position: string, author = alice, body = `body ${id}`): Message {
  return {
    id,
    room_id: "r1",
    seq,
    author,
    body,
    client_id: `c-${id}`,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    edited_at: null,
    attachments: [],
    position,
    reply_to: null,
    thread_id: null,
    thread: null,
    reactions: [],
    pinned: false,
    mentions: [],
  };
}

export function created(seq: number, m: Message = message(`m${seq}`, seq, `p${String(seq).padStart(4, "0")}`)): Event {
  return { room_id: m.room_id, seq, at: m.created_at, kind: "message.created", message: m };
}

export class RecordingSink implements ConnectionSink {
  states: string[] = [];
  events: Event[] = [];
  acks: string[] = [];
  failed: { clientId: string; code: string }[] = [];
  errors: string[] = [];
  resyncs: string[] = [];
  signedOut = 0;
  /** Each reconnect countdown announced (null: none waiting). */
  retries: (number | null)[] = [];
  state(s: string) {
    this.states.push(s);
  }
  retryAt(at: number | null) {
    this.retries.push(at);
  }
  hello() {}
  event(e: Event) {
    this.events.push(e);
  }
  /** Each room's online list as set wholesale (`subscribed`), in order. */
  onlines: { roomId: string; online: string[]; count?: number }[] = [];
  subscribed(roomId: string, online: User[], count?: number) {
    this.onlines.push({ roomId, online: online.map((u) => u.username), ...(count === undefined ? {} : { count }) });
  }
  /** Each room's online count as a `counts` subscription hears it, in order. */
  counts: { roomId: string; count: number }[] = [];
  async resync(roomId: string) {
    this.resyncs.push(roomId);
  }
  ack(clientId: string) {
    this.acks.push(clientId);
  }
  sendFailed(clientId: string, code: string) {
    this.failed.push({ clientId, code });
  }
  error(code: string) {
    this.errors.push(code);
  }
  presence(roomId: string, _joined: User[], _left: User[], count?: number) {
    if (count !== undefined) this.counts.push({ roomId, count });
  }
  typers: { roomId: string; username: string }[] = [];
  typing(roomId: string, user: User) {
    this.typers.push({ roomId, username: user.username });
  }
  roomList() {}
  removals: { roomId: string; reason: string }[] = [];
  removed(roomId: string, reason: string) {
    this.removals.push({ roomId, reason });
  }
  report() {}
  unauthenticated() {
    this.signedOut += 1;
  }
  markers: { roomId: string; seq: number }[] = [];
  readMarker(roomId: string, seq: number) {
    this.markers.push({ roomId, seq });
  }
  notifications: string[] = [];
  notification(_roomId: string, message: Message) {
    this.notifications.push(message.id);
  }
  seqs(roomId = "r1") {
    return this.events.filter((e) => e.room_id === roomId).map((e) => e.seq);
  }
}
