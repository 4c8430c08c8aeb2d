/**
 * The transport: one object that owns the WebSocket (or, where sockets are blocked, REST long
 * polling) and hands the server's messages to a sink — in practice the store.
 *
 * What it guarantees to the sink, per subscribed room: events arrive in `seq` order with no gap
 * and no duplicate. A jump in `seq` is filled from `GET …/events?after=` before anything later is
 * passed on; a reconnect resumes every room with `after` = the last seq passed on. Sends are
 * remembered until acknowledged and sent again (same `client_id`, so the server answers with the
 * original message) after every reconnect.
 *
 * It must never touch React, the DOM or storage: everything it needs comes in through
 * `ConnectionDeps`, so the unit tests drive it with a fake socket and fake REST.
 */
import { ApiError, type Api } from "./api";
import { RETRY_CAP_MS, reconnectDelay } from "./reconnect";
import {
  CloseCode,
  type AnyServerFrame as ServerFrame,
  type ClientFrame,
  type EventPage,
  type Message,
  type PresenceMode,
  type RemovalReason,
  type Room,
  type RoomEvent as Event,
  type RoomListChange,
  type User,
} from "./protocol";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "polling" | "offline";

/** The part of the browser WebSocket the connection uses. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** Where decoded, ordered, deduplicated server news goes. */
export interface ConnectionSink {
  state(state: ConnectionState): void;
  /** When the next reconnect attempt is due (ms since the epoch), or null: none is waiting. */
  retryAt?(at: number | null): void;
  hello(user: User): void;
  /** One room event, in seq order, each exactly once. */
  event(event: Event): void;
  /**
   * Who is online in a room now, wholesale (the socket's `subscribed` frame, or a poll's answer);
   * for a room followed by counts, `online` is empty and `onlineCount` says how many.
   */
  subscribed(roomId: string, online: User[], onlineCount?: number): void;
  /** The server will not replay: reload the room's history; resolve when done. */
  resync(roomId: string): Promise<void>;
  ack(clientId: string, message: Message): void;
  sendFailed(clientId: string, code: string, message: string): void;
  error(code: string, message: string): void;
  /** Who came and went; for a room followed by counts, only how many are online now. */
  presence(roomId: string, joined: User[], left: User[], onlineCount?: number): void;
  typing(roomId: string, user: User): void;
  /** `by`: who made the change, when the server says (a deletion). */
  roomList(change: RoomListChange, room: Room, by?: User): void;
  /** This person may no longer read the room (kicked, banned, left elsewhere, deleted). */
  removed(roomId: string, reason: RemovalReason): void;
  /** A message of a room this person moderates was reported. */
  report(roomId: string): void;
  /** The session is gone (close code 1008 or a 401): sign in again. */
  unauthenticated(): void;
  /** This person read a room up to `seq` (on any of their tabs or devices). */
  readMarker(roomId: string, seq: number): void;
  /** A message that should notify this person (a mention, or per their room setting). */
  notification(roomId: string, message: Message): void;
  /** #13: who is in a room's call now (empty: no call). */
  callState?(roomId: string, participants: User[]): void;
  /** #13: another participant's WebRTC signalling for this one. */
  callSignal?(roomId: string, from: string, data: unknown): void;
}

export type ConnectionApi = Pick<Api, "events" | "send" | "typing" | "me">;

export interface ConnectionDeps {
  api: ConnectionApi;
  createSocket: (url: string) => SocketLike;
  url: string;
  random?: () => number;
  /** Retry backoff of REST calls (gap fills, sends while polling): base delay, doubled each
   * failure up to max, with jitter. Socket reconnects follow `reconnect.ts` instead. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The longest wait between two reconnect attempts (see `reconnect.ts`). */
  reconnectCapMs?: number;
  /** Consecutive socket failures without a `hello` before falling back to long polling. */
  failuresBeforePolling?: number;
  /** While polling, how often to try the socket again. */
  socketRetryMs?: number;
  /** Long-poll `wait` in seconds (at most 30). */
  pollWaitSeconds?: number;
  helloTimeoutMs?: number;
  pingIntervalMs?: number;
  isOnline?: () => boolean;
}

type RoomTrack = {
  lastSeq: number;
  /** A gap fill or resync is running: live events wait in `buffer`. */
  filling: boolean;
  buffer: Event[];
  pollAbort: AbortController | null;
  /** Long polling: the token of the room's online/typing state last heard ("": none yet). Passed
   * back on every poll, so the server answers as soon as that state changes. */
  live: string;
  /** Long polling: the ids of who was online at the last answer (null: none yet). */
  onlineKey: string | null;
  /** How much presence the socket's subscription asks for (`counts` in big rooms). */
  presence: PresenceMode;
};

/** Where a message goes besides its room: a reply to one message, or into a thread (#10); the
 * ids of uploaded files it carries (#12). */
export type SendExtra = { reply_to?: string; thread_id?: string; attachments?: string[] };

type OutstandingSend = { roomId: string; body: string; extra?: SendExtra };

const OPEN = 1;
/** The `ref` of a subscribe: this, then the room's id. */
const SUBSCRIBE_REF = "subscribe:";
/** Subscribes refused as `unavailable` asked again, the first after this long (then doubling). */
export const SUBSCRIBE_RETRIES = 4;
export const SUBSCRIBE_RETRY_MS = 500;

/** The `send` frame; `attachments` only when there are files (#12). */
export class Connection {
  private readonly deps: Required<ConnectionDeps>;
  private socket: SocketLike | null = null;
  private socketIsLive = false;
  private currentState: ConnectionState = "offline";
  private running = false;
  private failures = 0;
  private everLive = false;
  /** The socket was tried once more after a reachability probe got through, since it last worked. */
  private triedAfterProbe = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private helloTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private awaitingPong = false;
  private polling = false;
  private focusRoom: string | null = null;
  private readonly rooms = new Map<string, RoomTrack>();
  private readonly outstanding = new Map<string, OutstandingSend>();
  private readonly restSending = new Set<string>();
  /** #13: the room whose call this person is in (joined again after every reconnect). */
  private callRoom: string | null = null;
  /** Rooms answered `subscribed` on the current socket: a call.join must come after it. */
  private readonly subscribedHere = new Set<string>();
  /**
   * Subscribes refused as `unavailable` (the server's store was busy or away) on the current
   * socket, per room: each is asked again after a growing pause, a few times, before the error
   * reaches the person. Without it the room would stay silent on a live socket.
   */
  private readonly subscribeRetries = new Map<string, number>();

  constructor(
    deps: ConnectionDeps,
    private readonly sink: ConnectionSink,
  ) {
    this.deps = {
      random: Math.random,
      backoffBaseMs: 500,
      backoffMaxMs: 15_000,
      reconnectCapMs: RETRY_CAP_MS,
      failuresBeforePolling: 2,
      socketRetryMs: 30_000,
      pollWaitSeconds: 25,
      helloTimeoutMs: 8_000,
      pingIntervalMs: 25_000,
      isOnline: () => true,
      ...deps,
    };
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** The last seq passed to the sink for a room (undefined when not subscribed). */
  lastSeq(roomId: string): number | undefined {
    return this.rooms.get(roomId)?.lastSeq;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // A start after a stop (signed out, then in again) begins with the fast retries.
    this.failures = 0;
    this.triedAfterProbe = false;
    this.setState("connecting");
    this.openSocket();
  }

  /** Close everything for good (sign-out). */
  stop(): void {
    this.running = false;
    this.polling = false;
    this.clearTimers();
    for (const room of this.rooms.values()) room.pollAbort?.abort();
    this.rooms.clear();
    this.outstanding.clear();
    this.dropSocket(1000);
    this.setState("offline");
  }

  /**
   * Something suggests the network is back (browser `online`, tab visible, "Retry now"): retry
   * now, and start again from the fast retries if this one fails too.
   */
  nudge(): void {
    if (!this.running || this.socketIsLive) return;
    if (this.reconnectTimer !== null || this.currentState === "offline") {
      this.cancelReconnect();
      if (!this.polling) this.failures = 0;
      if (!this.socket) this.openSocket();
    }
  }

  /**
   * Follow a room from `afterSeq` on: the events after it are replayed, then live ones.
   * Subscribing again to a room already followed does nothing. `presence: "counts"` asks to be
   * told how many are online rather than who (for big rooms).
   */
  subscribe(roomId: string, afterSeq: number, presence: PresenceMode = "full"): void {
    if (this.rooms.has(roomId)) return;
    const room: RoomTrack = { lastSeq: afterSeq, filling: false, buffer: [], pollAbort: null, live: "", onlineKey: null, presence };
    this.rooms.set(roomId, room);
    if (this.socketIsLive) this.sendSubscribe(roomId, afterSeq);
    else if (this.polling) this.pollRoom(roomId);
  }

  unsubscribe(roomId: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    this.subscribedHere.delete(roomId);
    if (this.callRoom === roomId) this.callRoom = null;
    room.pollAbort?.abort();
    this.rooms.delete(roomId);
    if (this.socketIsLive) this.sendFrame({ type: "unsubscribe", room_id: roomId });
  }

  /** The room the person is looking at: long-polled while polling, others less often. */
  setFocus(roomId: string | null): void {
    const previous = this.focusRoom;
    this.focusRoom = roomId;
    if (this.polling) {
      for (const id of [previous, roomId]) {
        const room = id ? this.rooms.get(id) : undefined;
        if (room?.pollAbort) room.pollAbort.abort();
      }
    }
  }

  /**
   * Send a message. It stays outstanding until acknowledged (`sink.ack`) or refused
   * (`sink.sendFailed`) and is sent again, with the same client_id, after every reconnect.
   */
  send(roomId: string, clientId: string, body: string, extra?: SendExtra): void {
    this.outstanding.set(clientId, { roomId, body, extra });
    if (this.socketIsLive) {
      this.sendFrame({ type: "send", room_id: roomId, client_id: clientId, body, ...extra });
    } else if (this.polling) {
      void this.sendOverRest(clientId);
    }
  }

  isOutstanding(clientId: string): boolean {
    return this.outstanding.has(clientId);
  }

  /**
   * #13: be in the room's call, on this socket and on every later one: `call.join` is sent
   * once the room is subscribed on the socket (so again after each reconnect).
   */
  joinCall(roomId: string): void {
    if (this.callRoom && this.callRoom !== roomId) this.leaveCall();
    this.callRoom = roomId;
    if (this.socketIsLive && this.subscribedHere.has(roomId)) this.sendFrame({ type: "call.join", room_id: roomId });
  }

  leaveCall(): void {
    const roomId = this.callRoom;
    this.callRoom = null;
    if (roomId && this.socketIsLive) this.sendFrame({ type: "call.leave", room_id: roomId });
  }

  /** Forget the call without telling the server (its place moved to another socket). */
  forgetCall(): void {
    this.callRoom = null;
  }

  /** #13: WebRTC signalling for another participant of the call. */
  callSignal(roomId: string, to: string, data: unknown): void {
    if (this.socketIsLive) this.sendFrame({ type: "call.signal", room_id: roomId, to, data });
  }

  typing(roomId: string): void {
    if (this.socketIsLive) this.sendFrame({ type: "typing", room_id: roomId });
    else if (this.polling) this.deps.api.typing(roomId).catch(() => undefined);
  }

  // ---- socket lifecycle -------------------------------------------------------------------

  private openSocket(): void {
    if (!this.running) return;
    let socket: SocketLike;
    try {
      socket = this.deps.createSocket(this.deps.url);
    } catch {
      this.onSocketFailed(false, 0);
      return;
    }
    this.socket = socket;
    let gotHello = false;
    this.helloTimer = setTimeout(() => {
      if (this.socket === socket && !gotHello) socket.close(4000, "no hello");
      // Some fakes and broken proxies never fire close: treat it as closed now.
      if (this.socket === socket && !gotHello) this.handleClose(socket, false, 4000);
    }, this.deps.helloTimeoutMs);
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(ev.data)) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "hello") gotHello = true;
      this.awaitingPong = false;
      this.handleFrame(frame);
    };
    socket.onclose = (ev) => this.handleClose(socket, gotHello, ev.code);
    socket.onerror = () => undefined;
  }

  private handleClose(socket: SocketLike, gotHello: boolean, code: number): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.socketIsLive = false;
    this.subscribedHere.clear();
    this.subscribeRetries.clear();
    this.clearSocketTimers();
    if (!this.running) return;
    if (code === CloseCode.Policy) {
      this.running = false;
      this.polling = false;
      this.setState("offline");
      this.sink.unauthenticated();
      return;
    }
    this.onSocketFailed(gotHello, code);
  }

  private onSocketFailed(gotHello: boolean, code: number): void {
    if (gotHello) this.failures = 0;
    this.failures += 1;
    if (this.polling) {
      // Still blocked: keep polling and try the socket again later.
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        this.openSocket();
      }, this.deps.socketRetryMs);
      return;
    }
    if (!gotHello && this.failures >= this.deps.failuresBeforePolling && this.deps.isOnline()) {
      void this.pollIfHttpWorks();
      return;
    }
    if (!this.deps.isOnline()) this.setState("offline");
    else this.setState(this.everLive ? "reconnecting" : "connecting");
    this.scheduleReconnect(code === CloseCode.SlowConsumer ? 0 : this.reconnectDelay(this.failures));
  }

  /** The wait before reconnect attempt number `failures` (see `reconnect.ts`). */
  reconnectDelay(failures: number): number {
    return reconnectDelay(failures, this.deps.random, this.deps.reconnectCapMs);
  }

  /** Open the socket again after `delay`; the sink hears when, for a countdown. */
  private scheduleReconnect(delay: number): void {
    this.cancelReconnect();
    this.sink.retryAt?.(Date.now() + delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.sink.retryAt?.(null);
      this.openSocket();
    }, delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer === null) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.sink.retryAt?.(null);
  }

  /**
   * The socket keeps failing. Fall back to long polling only when plain HTTP gets through (a
   * proxy that blocks WebSockets); when the server is simply down, keep reconnecting instead.
   */
  private async pollIfHttpWorks(): Promise<void> {
    let reachable = false;
    try {
      // Past the service worker's kept copy: that answers even when the server is down.
      await this.deps.api.me({ fresh: true });
      reachable = true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.running = false;
        this.setState("offline");
        this.sink.unauthenticated();
        return;
      }
    }
    if (!this.running || this.socket || this.polling || this.reconnectTimer !== null) return;
    if (reachable && !this.triedAfterProbe) {
      // The failures may all have been a server that was down and is up now (a restart, the
      // probe landing just after it came back): try the socket once more before taking it
      // for blocked, or the client would poll until the next retry, half a minute away.
      this.triedAfterProbe = true;
      this.openSocket();
      return;
    }
    if (reachable) {
      this.startPolling();
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        this.openSocket();
      }, this.deps.socketRetryMs);
    } else {
      this.triedAfterProbe = false;
      this.setState(this.everLive ? "reconnecting" : "connecting");
      this.scheduleReconnect(this.reconnectDelay(this.failures));
    }
  }

  /** Exponential backoff with jitter: between half and all of base·2^(n-1), capped. */
  backoffDelay(failures: number): number {
    const { backoffBaseMs, backoffMaxMs, random } = this.deps;
    const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, failures - 1));
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  private onHello(user: User): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.failures = 0;
    this.triedAfterProbe = false;
    this.everLive = true;
    this.socketIsLive = true;
    if (this.polling) this.stopPolling();
    this.cancelReconnect();
    this.sink.hello(user);
    this.setState("live");
    for (const [roomId, room] of this.rooms) this.sendSubscribe(roomId, room.lastSeq);
    for (const [clientId, send] of this.outstanding) {
      this.sendFrame({ type: "send", room_id: send.roomId, client_id: clientId, body: send.body, ...send.extra });
    }
    this.pingTimer = setInterval(() => this.heartbeat(), this.deps.pingIntervalMs);
  }

  /** A silent half-open socket is found by an unanswered ping and replaced. */
  private heartbeat(): void {
    const socket = this.socket;
    if (!socket || !this.socketIsLive) return;
    if (this.awaitingPong) {
      socket.close(4000, "ping timeout");
      this.handleClose(socket, true, 4000);
      return;
    }
    this.awaitingPong = true;
    this.sendFrame({ type: "ping" });
  }

  /** A subscribe, with a `ref` naming the room so that a refusal can be told apart. */
  private sendSubscribe(roomId: string, after: number): void {
    const counts = this.rooms.get(roomId)?.presence === "counts";
    this.sendFrame({
      type: "subscribe",
      room_id: roomId,
      after,
      ref: `${SUBSCRIBE_REF}${roomId}`,
      ...(counts ? { presence: "counts" as const } : {}),
    });
  }

  /**
   * A subscribe refused as `unavailable` is asked again after 0.5, 1, 2 and 4 s (from the room's
   * last seq then); answers whether it will be. Other refusals, and the fifth, go to the person.
   */
  private retrySubscribe(code: string, ref: unknown): boolean {
    if (code !== "unavailable" || typeof ref !== "string" || !ref.startsWith(SUBSCRIBE_REF)) return false;
    const roomId = ref.slice(SUBSCRIBE_REF.length);
    const attempt = (this.subscribeRetries.get(roomId) ?? 0) + 1;
    if (!this.rooms.has(roomId) || attempt > SUBSCRIBE_RETRIES) return false;
    this.subscribeRetries.set(roomId, attempt);
    const socket = this.socket;
    setTimeout(() => {
      const room = this.rooms.get(roomId);
      if (room && this.socket === socket && this.socketIsLive && !this.subscribedHere.has(roomId)) {
        this.sendSubscribe(roomId, room.lastSeq);
      }
    }, SUBSCRIBE_RETRY_MS * 2 ** (attempt - 1));
    return true;
  }

  private sendFrame(frame: ClientFrame | (Extract<ClientFrame, { type: "send" }> & SendExtra)): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return;
    try {
      socket.send(JSON.stringify(frame));
    } catch {
      // The close handler reconnects and resends what matters.
    }
  }

  private dropSocket(code: number): void {
    const socket = this.socket;
    this.socket = null;
    this.socketIsLive = false;
    this.subscribedHere.clear();
    this.subscribeRetries.clear();
    this.clearSocketTimers();
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      try {
        socket.close(code);
      } catch {
        // already closed
      }
    }
  }

  private clearSocketTimers(): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.helloTimer = null;
    this.pingTimer = null;
    this.awaitingPong = false;
  }

  private clearTimers(): void {
    this.clearSocketTimers();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.sink.state(state);
  }

  // ---- frames ---------------------------------------------------------------------------

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello":
        this.onHello(frame.user);
        break;
      case "event":
        this.acceptEvent(frame.event);
        break;
      case "subscribed":
        if (this.rooms.has(frame.room_id)) this.sink.subscribed(frame.room_id, frame.online, frame.online_count);
        this.subscribedHere.add(frame.room_id);
        this.subscribeRetries.delete(frame.room_id);
        if (frame.room_id === this.callRoom) this.sendFrame({ type: "call.join", room_id: frame.room_id });
        break;
      case "call.state":
        this.sink.callState?.(frame.room_id, frame.participants);
        break;
      case "call.signal":
        this.sink.callSignal?.(frame.room_id, frame.from, frame.data);
        break;
      case "resync":
        void this.resync(frame.room_id, frame.last_seq);
        break;
      case "ack":
        this.outstanding.delete(frame.client_id);
        this.sink.ack(frame.client_id, frame.message);
        break;
      case "error":
        if (frame.client_id != null) {
          this.outstanding.delete(frame.client_id);
          this.sink.sendFailed(frame.client_id, frame.code, frame.message);
        } else if (!this.retrySubscribe(frame.code, frame.ref)) {
          this.sink.error(frame.code, frame.message);
        }
        break;
      case "presence":
        if (this.rooms.has(frame.room_id)) this.sink.presence(frame.room_id, frame.joined, frame.left, frame.online_count);
        break;
      case "typing":
        if (this.rooms.has(frame.room_id)) this.sink.typing(frame.room_id, frame.user);
        break;
      case "room_list":
        this.sink.roomList(frame.change, frame.room, frame.by);
        break;
      case "removed":
        this.forgetRoom(frame.room_id);
        this.sink.removed(frame.room_id, frame.reason);
        break;
      case "report":
        this.sink.report(frame.room_id);
        break;
      case "read_marker":
        this.sink.readMarker(frame.room_id, frame.seq);
        break;
      case "notification":
        this.sink.notification(frame.room_id, frame.message);
        break;
      case "pong":
      case "unsubscribed":
        break;
    }
  }

  /** Nothing more of the room comes (removed, deleted): forget it here too, so nothing refetches it. */
  private forgetRoom(roomId: string): void {
    this.rooms.get(roomId)?.pollAbort?.abort();
    this.rooms.delete(roomId);
  }

  /** The one door for events, from the socket and from REST alike: order, gaps, duplicates. */
  private acceptEvent(event: Event): void {
    const room = this.rooms.get(event.room_id);
    if (!room) return;
    if (room.filling) {
      room.buffer.push(event);
      return;
    }
    if (event.seq <= room.lastSeq) return;
    if (event.seq === room.lastSeq + 1) {
      room.lastSeq = event.seq;
      this.sink.event(event);
      return;
    }
    room.buffer.push(event);
    void this.fillGap(event.room_id, room);
  }

  /** Fetch the events missing before the buffered ones, then pass everything on in order. */
  private async fillGap(roomId: string, room: RoomTrack): Promise<void> {
    room.filling = true;
    let attempt = 0;
    while (this.rooms.get(roomId) === room && this.running) {
      const before = room.lastSeq;
      try {
        const page = await this.deps.api.events(roomId, { after: room.lastSeq, limit: 500 });
        if (this.rooms.get(roomId) !== room) return;
        for (const event of page.events) this.passOn(room, event);
        this.drainBuffer(room);
        if (room.buffer.length === 0) break;
        // Still a hole: fetch again, pausing when the store gave nothing new.
        if (room.lastSeq === before) await delay(this.backoffDelay(++attempt));
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          this.sink.unauthenticated();
          return;
        }
        await delay(this.backoffDelay(++attempt));
      }
    }
    room.filling = false;
  }

  /** Pass on buffered events that now follow on; keep the ones still beyond a gap. */
  private drainBuffer(room: RoomTrack): void {
    room.buffer.sort((a, b) => a.seq - b.seq);
    const rest: Event[] = [];
    for (const event of room.buffer) {
      if (event.seq <= room.lastSeq) continue;
      if (event.seq === room.lastSeq + 1) this.passOn(room, event);
      else rest.push(event);
    }
    room.buffer = rest;
  }

  private passOn(room: RoomTrack, event: Event): void {
    if (event.seq !== room.lastSeq + 1) return;
    room.lastSeq = event.seq;
    this.sink.event(event);
  }

  private async resync(roomId: string, lastSeq: number): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room) return;
    room.filling = true;
    try {
      await this.sink.resync(roomId);
    } finally {
      room.lastSeq = Math.max(room.lastSeq, lastSeq);
      room.filling = false;
      const buffered = room.buffer.sort((a, b) => a.seq - b.seq);
      room.buffer = [];
      for (const event of buffered) this.acceptEvent(event);
    }
  }

  // ---- long-polling fallback -------------------------------------------------------------

  private startPolling(): void {
    if (this.polling) return;
    this.polling = true;
    this.setState("polling");
    for (const [roomId, room] of this.rooms) {
      // A token from an earlier spell of polling names a state the socket has since moved past:
      // start afresh, so the first answer says at once who is online now.
      room.live = "";
      room.onlineKey = null;
      this.pollRoom(roomId);
    }
    for (const clientId of this.outstanding.keys()) void this.sendOverRest(clientId);
  }

  private stopPolling(): void {
    this.polling = false;
    for (const room of this.rooms.values()) {
      room.pollAbort?.abort();
      room.pollAbort = null;
    }
  }

  private async pollRoom(roomId: string): Promise<void> {
    let attempt = 0;
    for (;;) {
      const room = this.rooms.get(roomId);
      if (!room || !this.polling || !this.running) return;
      if (room.filling) {
        await delay(100);
        continue;
      }
      const focused = this.focusRoom === roomId;
      const abort = new AbortController();
      room.pollAbort = abort;
      try {
        // `live` on every poll, the unfocused ones too: it is what keeps this person online there.
        const page = await this.deps.api.events(
          roomId,
          { after: room.lastSeq, wait: focused ? this.deps.pollWaitSeconds : 0, limit: 500, live: room.live },
          abort.signal,
        );
        attempt = 0;
        for (const event of page.events) this.acceptEvent(event);
        // The sink may have let go of the room on one of those events.
        if (this.rooms.get(roomId) !== room) return;
        if (page.removed) {
          this.forgetRoom(roomId);
          this.sink.removed(roomId, page.removed);
          return;
        }
        // The room's last event: after it the room answers 404.
        if (page.events.some((event) => event.kind === "room.deleted")) {
          this.forgetRoom(roomId);
          return;
        }
        this.takeLive(roomId, room, page);
        if (!focused && page.events.length === 0) await delay(10_000, abort.signal);
      } catch (err) {
        if (abort.signal.aborted) continue;
        if (err instanceof ApiError && err.status === 401) {
          this.sink.unauthenticated();
          return;
        }
        if (err instanceof ApiError && err.status === 404) return;
        await delay(this.backoffDelay(++attempt));
      } finally {
        if (room.pollAbort === abort) room.pollAbort = null;
      }
    }
  }

  /** A poll's word on who is online and who is typing, as the socket's frames would say it. */
  private takeLive(roomId: string, room: RoomTrack, page: EventPage): void {
    // The token also moves with every typing notice: hand the list on only when it changed,
    // as setting the same one again would only re-render.
    if (page.online) {
      const key = page.online
        .map((user) => user.id)
        .sort()
        .join(",");
      if (key !== room.onlineKey) this.sink.subscribed(roomId, page.online);
      room.onlineKey = key;
    }
    if (page.live !== undefined) room.live = page.live;
    for (const user of page.typing ?? []) this.sink.typing(roomId, user);
  }

  private async sendOverRest(clientId: string): Promise<void> {
    if (this.restSending.has(clientId)) return;
    const send = this.outstanding.get(clientId);
    if (!send) return;
    this.restSending.add(clientId);
    try {
      const message = send.extra
        ? await this.deps.api.send(send.roomId, clientId, send.body, send.extra)
        : await this.deps.api.send(send.roomId, clientId, send.body);
      if (this.outstanding.delete(clientId)) this.sink.ack(clientId, message);
    } catch (err) {
      if (err instanceof ApiError && !err.isNetwork) {
        if (err.status === 401) this.sink.unauthenticated();
        else if (this.outstanding.delete(clientId)) this.sink.sendFailed(clientId, err.code, err.message);
      } else if (this.polling) {
        // Network trouble: try again shortly; the client_id makes a repeat harmless.
        setTimeout(() => void this.sendOverRest(clientId), this.backoffDelay(2));
      }
    } finally {
      this.restSending.delete(clientId);
    }
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
