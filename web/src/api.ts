/**
 * The REST client: one function per endpoint of API.md, nothing else. Authentication rides on the
 * `palaver_session` cookie (same origin), so no token is handled here.
 */
import type {
  AuthResponse,
  EventPage,
  Member,
  Message,
  MessagePage,
  Rearrange,
  Room,
  User,
} from "./protocol";

/** An error answer from the server (`{error: {code, message}}`) or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
  /** True when the request never got an answer (offline, server down): worth retrying. */
  get isNetwork(): boolean {
    return this.status === 0;
  }
}

export type Fetch = typeof fetch;

export class Api {
  constructor(
    private readonly fetchImpl: Fetch = (...args) => fetch(...args),
    private readonly base = "",
  ) {}

  private async request<T>(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        credentials: "same-origin",
        headers: body === undefined ? undefined : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ApiError(0, "network", "Could not reach the server");
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown = undefined;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(
        res.status,
        err?.code ?? `http_${res.status}`,
        err?.message ?? `${res.status} ${res.statusText}`,
      );
    }
    return json as T;
  }

  me = () => this.request<User>("GET", "/api/me");
  register = (username: string, password: string) =>
    this.request<AuthResponse>("POST", "/api/auth/register", { username, password });
  login = (username: string, password: string) =>
    this.request<AuthResponse>("POST", "/api/auth/login", { username, password });
  guest = (username: string) => this.request<AuthResponse>("POST", "/api/auth/guest", { username });
  logout = () => this.request<void>("POST", "/api/auth/logout");

  rooms = () => this.request<Room[]>("GET", "/api/rooms");
  room = (roomId: string) => this.request<Room>("GET", `/api/rooms/${enc(roomId)}`);
  createRoom = (name: string, topic?: string) =>
    this.request<Room>("POST", "/api/rooms", topic ? { name, topic } : { name });
  updateRoom = (roomId: string, patch: { name?: string; topic?: string; rearrange?: Rearrange }) =>
    this.request<Room>("PATCH", `/api/rooms/${enc(roomId)}`, patch);
  deleteRoom = (roomId: string) => this.request<void>("DELETE", `/api/rooms/${enc(roomId)}`);
  joinRoom = (roomId: string) => this.request<Room>("POST", `/api/rooms/${enc(roomId)}/join`);
  leaveRoom = (roomId: string) => this.request<void>("POST", `/api/rooms/${enc(roomId)}/leave`);
  members = (roomId: string) => this.request<Member[]>("GET", `/api/rooms/${enc(roomId)}/members`);

  messages = (roomId: string, opts: { before?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (opts.before !== undefined) q.set("before", opts.before);
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    const qs = q.toString();
    return this.request<MessagePage>(
      "GET",
      `/api/rooms/${enc(roomId)}/messages${qs ? `?${qs}` : ""}`,
    );
  };
  send = (roomId: string, clientId: string, body: string) =>
    this.request<Message>("POST", `/api/rooms/${enc(roomId)}/messages`, {
      client_id: clientId,
      body,
    });
  edit = (roomId: string, messageId: string, body: string) =>
    this.request<Message>("PATCH", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}`, {
      body,
    });
  deleteMessage = (roomId: string, messageId: string) =>
    this.request<void>("DELETE", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}`);
  move = (roomId: string, messageId: string, after: string | null) =>
    this.request<Message>("POST", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/move`, {
      after,
    });
  clear = (roomId: string) => this.request<void>("POST", `/api/rooms/${enc(roomId)}/clear`);
  events = (
    roomId: string,
    opts: { after: number; limit?: number; wait?: number },
    signal?: AbortSignal,
  ) => {
    const q = new URLSearchParams({ after: String(opts.after) });
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    if (opts.wait !== undefined) q.set("wait", String(opts.wait));
    return this.request<EventPage>("GET", `/api/rooms/${enc(roomId)}/events?${q}`, undefined, signal);
  };
  typing = (roomId: string) => this.request<void>("POST", `/api/rooms/${enc(roomId)}/typing`);
}

const enc = encodeURIComponent;
