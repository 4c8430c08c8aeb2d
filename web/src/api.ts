/**
 * The REST client: one function per endpoint of API.md, nothing else. Authentication rides on the
 * `palaver_session` cookie (same origin), so no token is handled here.
 */
import type {
  AuthResponse,
  IceServer,
  EventPage,
  Invite,
  InviteInfo,
  Member,
  Message,
  MessagePage,
  NotificationLevel,
  Profile,
  ProfilePatch,
  Rearrange,
  RegisterResponse,
  Role,
  Room,
  SearchResults,
  ServerConfig,
  Session,
  UnreadEntry,
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
    cache?: RequestCache,
    keepalive?: boolean,
  ): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        credentials: "same-origin",
        headers: body === undefined ? undefined : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        ...(cache ? { cache } : {}),
        ...(keepalive ? { keepalive } : {}),
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

  /** `fresh`: from the server itself, never a copy the service worker kept (#15) — for asking
   * whether the server can be reached. */
  me = (opts?: { fresh?: boolean }) =>
    this.request<User>("GET", "/api/me", undefined, undefined, opts?.fresh ? "no-store" : undefined);
  register = (username: string, password: string) =>
    this.request<RegisterResponse>("POST", "/api/auth/register", { username, password });
  login = (username: string, password: string) =>
    this.request<AuthResponse>("POST", "/api/auth/login", { username, password });
  guest = (username: string) => this.request<AuthResponse>("POST", "/api/auth/guest", { username });
  logout = () => this.request<void>("POST", "/api/auth/logout");

  rooms = () => this.request<Room[]>("GET", "/api/rooms");
  room = (roomId: string) => this.request<Room>("GET", `/api/rooms/${enc(roomId)}`);
  createRoom = (name: string, topic?: string, kind: "public" | "private" = "public") =>
    this.request<Room>("POST", "/api/rooms", { name, ...(topic ? { topic } : {}), ...(kind === "public" ? {} : { kind }) });
  updateRoom = (
    roomId: string,
    patch: { name?: string; topic?: string; rearrange?: Rearrange; pins?: "anyone" | "moderators"; mention_everyone?: "anyone" | "moderators" },
  ) =>
    this.request<Room>("PATCH", `/api/rooms/${enc(roomId)}`, patch);
  deleteRoom = (roomId: string) => this.request<void>("DELETE", `/api/rooms/${enc(roomId)}`);
  joinRoom = (roomId: string) => this.request<Room>("POST", `/api/rooms/${enc(roomId)}/join`);
  leaveRoom = (roomId: string) => this.request<void>("POST", `/api/rooms/${enc(roomId)}/leave`);
  members = (roomId: string) => this.request<Member[]>("GET", `/api/rooms/${enc(roomId)}/members`);

  // Search (issue #11).
  search = (q: string, opts: { roomId?: string; before?: string; limit?: number } = {}) => {
    const params = new URLSearchParams({ q });
    if (opts.roomId !== undefined) params.set("room_id", opts.roomId);
    if (opts.before !== undefined) params.set("before", opts.before);
    if (opts.limit !== undefined) params.set("limit", String(opts.limit));
    return this.request<SearchResults>("GET", `/api/search?${params.toString()}`);
  };

  /** History pages: the last, `before` a position, `around` a message id (a window with the
   * message in it), or `after` a position (paging forward from such a window). */
  messages = (roomId: string, opts: { before?: string; around?: string; after?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (opts.before !== undefined) q.set("before", opts.before);
    if (opts.around !== undefined) q.set("around", opts.around);
    if (opts.after !== undefined) q.set("after", opts.after);
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    const qs = q.toString();
    return this.request<MessagePage>(
      "GET",
      `/api/rooms/${enc(roomId)}/messages${qs ? `?${qs}` : ""}`,
    );
  };
  send = (roomId: string, clientId: string, body: string, extra?: { reply_to?: string; thread_id?: string; attachments?: string[] }) =>
    this.request<Message>("POST", `/api/rooms/${enc(roomId)}/messages`, {
      client_id: clientId,
      body,
      ...extra,
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
    opts: { after: number; limit?: number; wait?: number; live?: string },
    signal?: AbortSignal,
  ) => {
    const q = new URLSearchParams({ after: String(opts.after) });
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    if (opts.wait !== undefined) q.set("wait", String(opts.wait));
    // Even empty (`live=`, "no state heard yet"): its presence asks for online/typing and keeps
    // this person online in the room.
    if (opts.live !== undefined) q.set("live", opts.live);
    return this.request<EventPage>("GET", `/api/rooms/${enc(roomId)}/events?${q}`, undefined, signal);
  };
  typing = (roomId: string) => this.request<void>("POST", `/api/rooms/${enc(roomId)}/typing`);

  // ---- issue #9: direct messages, invites, members, moderation --------------------------------
  config = () => this.request<ServerConfig>("GET", "/api/config");
  openDm = (usernames: string[]) => this.request<Room>("POST", "/api/dms", { usernames });
  createInvite = (roomId: string, opts: { max_uses?: number; expires_in_secs?: number } = {}) =>
    this.request<Invite>("POST", `/api/rooms/${enc(roomId)}/invites`, opts);
  invite = (code: string) => this.request<InviteInfo>("GET", `/api/invites/${enc(code)}`);
  acceptInvite = (code: string) => this.request<Room>("POST", `/api/invites/${enc(code)}/accept`);
  addMember = (roomId: string, username: string) =>
    this.request<unknown>("POST", `/api/rooms/${enc(roomId)}/members`, { username });
  setRole = (roomId: string, userId: string, role: Role) =>
    this.request<unknown>("PATCH", `/api/rooms/${enc(roomId)}/members/${enc(userId)}`, { role });
  kick = (roomId: string, userId: string) =>
    this.request<void>("POST", `/api/rooms/${enc(roomId)}/kick`, { user_id: userId });
  ban = (roomId: string, userId: string, expiresInSecs?: number | null) =>
    this.request<unknown>("POST", `/api/rooms/${enc(roomId)}/bans`, {
      user_id: userId,
      ...(expiresInSecs ? { expires_in_secs: expiresInSecs } : {}),
    });
  unban = (roomId: string, userId: string) =>
    this.request<void>("DELETE", `/api/rooms/${enc(roomId)}/bans/${enc(userId)}`);
  bans = (roomId: string) => this.request<{ user: User }[]>("GET", `/api/rooms/${enc(roomId)}/bans`);
  mutes = (roomId: string) => this.request<{ user: User }[]>("GET", `/api/rooms/${enc(roomId)}/mutes`);
  unmute = (roomId: string, userId: string) =>
    this.request<void>("DELETE", `/api/rooms/${enc(roomId)}/mutes/${enc(userId)}`);
  mute = (roomId: string, userId: string, expiresInSecs?: number | null) =>
    this.request<unknown>("POST", `/api/rooms/${enc(roomId)}/mutes`, {
      user_id: userId,
      ...(expiresInSecs ? { expires_in_secs: expiresInSecs } : {}),
    });
  report = (roomId: string, messageId: string, reason: string) =>
    this.request<unknown>("POST", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/report`, { reason });

  // ---- issue #9: accounts and people -----------------------------------------------------------
  users = (q: string, limit = 20) =>
    this.request<User[]>("GET", `/api/users?${new URLSearchParams({ q, limit: String(limit) })}`);
  profile = (userId: string) => this.request<Profile>("GET", `/api/users/${enc(userId)}`);
  updateMe = (patch: ProfilePatch) => this.request<User>("PATCH", "/api/me", patch);
  changePassword = (currentPassword: string, newPassword: string) =>
    this.request<void>("POST", "/api/me/password", { current_password: currentPassword, new_password: newPassword });
  sessions = () => this.request<Session[]>("GET", "/api/me/sessions");
  revokeSession = (id: string) => this.request<void>("DELETE", `/api/me/sessions/${enc(id)}`);
  exportMe = () => this.request<unknown>("GET", "/api/me/export");
  deleteMe = (password: string) => this.request<void>("DELETE", "/api/me", { password });
  claim = (password: string) => this.request<User>("POST", "/api/me/claim", { password });

  // ---- issue #10: threads, reactions, pins, read markers, notifications, push ------------------
  thread = (roomId: string, rootId: string, opts: { before?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (opts.before !== undefined) q.set("before", opts.before);
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    const qs = q.toString();
    return this.request<MessagePage>("GET", `/api/rooms/${enc(roomId)}/threads/${enc(rootId)}/messages${qs ? `?${qs}` : ""}`);
  };
  react = (roomId: string, messageId: string, emoji: string) =>
    this.request<void>("PUT", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`);
  unreact = (roomId: string, messageId: string, emoji: string) =>
    this.request<void>("DELETE", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`);
  pin = (roomId: string, messageId: string) =>
    this.request<void>("POST", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/pin`);
  unpin = (roomId: string, messageId: string) =>
    this.request<void>("DELETE", `/api/rooms/${enc(roomId)}/messages/${enc(messageId)}/pin`);
  pins = (roomId: string) => this.request<Message[]>("GET", `/api/rooms/${enc(roomId)}/pins`);
  /** `keepalive`: the request outlives the page (sent as it unloads). */
  markRead = (roomId: string, seq: number, keepalive = false) =>
    this.request<void>("PUT", `/api/rooms/${enc(roomId)}/read`, { seq }, undefined, undefined, keepalive);
  unread = () => this.request<UnreadEntry[]>("GET", "/api/me/unread");
  setNotifications = (roomId: string, level: NotificationLevel) =>
    this.request<void>("PUT", `/api/rooms/${enc(roomId)}/notifications`, { level });
  pushKey = () => this.request<{ public_key: string }>("GET", "/api/push/key");
  pushSubscribe = (sub: { endpoint: string; keys: { p256dh: string; auth: string } }) =>
    this.request<unknown>("POST", "/api/push/subscriptions", sub);
  pushUnsubscribe = (endpoint: string) => this.request<void>("DELETE", "/api/push/subscriptions", { endpoint });
  // #13: the STUN/TURN servers calls connect with (TURN with a fresh short-lived credential).
  iceServers = () => this.request<IceServer[]>("GET", "/api/calls/ice-servers");
}

const enc = encodeURIComponent;
