// Generated from src/protocol.rs by `cargo test` (UPDATE_TS=1 rewrites it). Do not edit.

export type User = { id: string, username: string, guest: boolean, 
/**
 * A site admin (the first account of a fresh install, or granted with `palaver admin`).
 * Absent in events logged before it existed, which read as `false`.
 */
admin: boolean, 
/**
 * The name to show; `null` when the person set none (show `username`).
 */
display_name: string | null, 
/**
 * A bot account (owned by a person, signed in with its token) or a webhook's poster:
 * clients badge it. Absent in events logged before bots existed, which read as `false`.
 */
bot: boolean, };

export type Rearrange = "anyone" | "moderators" | "nobody";

export type RoomKind = "public" | "private" | "direct";

export type Room = { id: string, name: string, topic: string, 
/**
 * `null` for the default rooms, which belong to nobody.
 */
owner_id: string | null, member_count: number, online_count: number, last_seq: number, rearrange: Rearrange, created_at: string, 
/**
 * Absent in events logged before room kinds existed: those rooms were public.
 */
kind: RoomKind, 
/**
 * Whether the caller is a member. In frames shared by many people (`room.updated` events,
 * `room_list`) it is `false` and `my_role` is `null`: ask `GET /api/rooms/{id}` for yours.
 */
member: boolean, 
/**
 * The caller's role in the room, `null` when not a member.
 */
my_role: Role | null, 
/**
 * Who may pin messages: `moderators` (the default in rooms) or `anyone` who may post (the
 * default in DMs). Absent in events logged before pins existed.
 */
pins: PinPolicy, 
/**
 * Who may mention everyone with `@room` / `@here` (issue #10). Absent in events logged
 * before it existed: anyone.
 */
mention_everyone: MentionEveryone, };

export type Role = "owner" | "admin" | "moderator" | "member";

export type Member = { user: User, role: Role, online: boolean, };

export type Message = { id: string, room_id: string, 
/**
 * The room event that created this message.
 */
seq: number, author: User, body: string, client_id: string, created_at: string, edited_at: string | null, 
/**
 * Display-order key: messages sort by this string.
 */
position: string, 
/**
 * The message this one answers (a message of the same room), or `null`.
 */
reply_to: string | null, 
/**
 * For a thread reply: the thread's first message (a top-level message of the room). Room
 * history pages leave thread replies out; `GET …/threads/{thread_id}/messages` pages them.
 */
thread_id: string | null, 
/**
 * On a thread's first message: its live replies' count and the newest one's time;
 * `null` when it has none.
 */
thread: ThreadSummary | null, 
/**
 * Reactions, one entry per emoji, first reacted first.
 */
reactions: Array<Reaction>, 
/**
 * Whether the message is pinned in its room.
 */
pinned: boolean, 
/**
 * The people the message mentions (`@name`, and everyone for `@room` / `@here`), by id:
 * only people who may read the room. Absent in events logged before mentions existed.
 */
mentions: Array<string>, attachments: Array<FileInfo>, };

export type Event = { room_id: string, seq: number, at: string, } & ({ "kind": "message.created", message: Message, thread?: ThreadSummary, } | { "kind": "message.edited", message: Message, } | { "kind": "message.deleted", message_id: string, thread_id?: string, thread?: ThreadSummary, } | { "kind": "message.moved", message_id: string, position: string, after: string | null, by?: User, } | { "kind": "room.cleared", by: User, } | { "kind": "member.joined", user: User, } | { "kind": "member.left", user: User, } | { "kind": "room.updated", room: Room, } | { "kind": "member.role_changed", user: User, role: Role, by: User, } | { "kind": "room.deleted", by?: User, } | { "kind": "member.kicked", user: User, by: User, } | { "kind": "member.banned", user: User, by: User, expires_at: string | null, } | { "kind": "member.unbanned", user: User, by: User, } | { "kind": "member.muted", user: User, by: User, expires_at: string | null, } | { "kind": "member.unmuted", user: User, by: User, } | { "kind": "reaction.added", message_id: string, emoji: string, user: User, } | { "kind": "reaction.removed", message_id: string, emoji: string, user: User, } | { "kind": "message.pinned", message_id: string, by: User, } | { "kind": "message.unpinned", message_id: string, by: User, });

export type EventKind = { "kind": "message.created", message: Message, thread?: ThreadSummary, } | { "kind": "message.edited", message: Message, } | { "kind": "message.deleted", message_id: string, thread_id?: string, thread?: ThreadSummary, } | { "kind": "message.moved", message_id: string, position: string, after: string | null, by?: User, } | { "kind": "room.cleared", by: User, } | { "kind": "member.joined", user: User, } | { "kind": "member.left", user: User, } | { "kind": "room.updated", room: Room, } | { "kind": "member.role_changed", user: User, role: Role, by: User, } | { "kind": "room.deleted", by?: User, } | { "kind": "member.kicked", user: User, by: User, } | { "kind": "member.banned", user: User, by: User, expires_at: string | null, } | { "kind": "member.unbanned", user: User, by: User, } | { "kind": "member.muted", user: User, by: User, expires_at: string | null, } | { "kind": "member.unmuted", user: User, by: User, } | { "kind": "reaction.added", message_id: string, emoji: string, user: User, } | { "kind": "reaction.removed", message_id: string, emoji: string, user: User, } | { "kind": "message.pinned", message_id: string, by: User, } | { "kind": "message.unpinned", message_id: string, by: User, };

export type ClientFrame = { "type": "subscribe", room_id: string, after?: number, 
/**
 * How much presence the subscription wants (by default `full`: who is online).
 */
presence?: PresenceMode, ref?: unknown, } | { "type": "unsubscribe", room_id: string, ref?: unknown, } | { "type": "send", room_id: string, client_id: string, body: string, ref?: unknown, 
/**
 * The message this one answers (of the same room).
 */
reply_to?: string, 
/**
 * Post into this message's thread (a reply's thread is its first message's).
 */
thread_id?: string, attachments?: Array<string>, } | { "type": "edit", room_id: string, message_id: string, body: string, ref?: unknown, } | { "type": "delete", room_id: string, message_id: string, ref?: unknown, } | { "type": "move", room_id: string, message_id: string, 
/**
 * The message to place it after; `null` moves it to the top. Required (may be null).
 */
after: string | null, ref?: unknown, } | { "type": "clear", room_id: string, ref?: unknown, } | { "type": "typing", room_id: string, } | { "type": "ping", ref?: unknown, } | { "type": "react", room_id: string, message_id: string, emoji: string, ref?: unknown, } | { "type": "unreact", room_id: string, message_id: string, emoji: string, ref?: unknown, } | { "type": "read", room_id: string, seq: number, ref?: unknown, } | { "type": "call.join", room_id: string, ref?: unknown, } | { "type": "call.leave", room_id: string, ref?: unknown, } | { "type": "call.signal", room_id: string, 
/**
 * The participant's user id.
 */
to: string, data: unknown, ref?: unknown, };

export type PresenceMode = "full" | "counts";

export type RoomListChange = "created" | "updated" | "deleted";

export type ServerFrame = { "type": "hello", user: User, protocol: number, node_id: string, } | { "type": "subscribed", room_id: string, last_seq: number, 
/**
 * Who is online (empty for a `presence: "counts"` subscription).
 */
online: Array<User>, 
/**
 * How many are online: only for a `presence: "counts"` subscription.
 */
online_count?: number, } | { "type": "unsubscribed", room_id: string, } | { "type": "resync", room_id: string, last_seq: number, } | { "type": "event", event: Event, } | { "type": "ack", client_id: string, message: Message, } | { "type": "typing", room_id: string, user: User, } | { "type": "presence", room_id: string, joined: Array<User>, left: Array<User>, 
/**
 * How many are online now: only to a `presence: "counts"` subscription (whose
 * `joined` and `left` are empty).
 */
online_count?: number, } | { "type": "room_list", change: RoomListChange, room: Room, 
/**
 * With `change: "deleted"`: who deleted the room.
 */
by?: User, } | { "type": "pong", ref: unknown, } | { "type": "removed", room_id: string, reason: RemovedReason, } | { "type": "report", room_id: string, report: Report, } | { "type": "error", code: string, message: string, ref?: unknown, 
/**
 * For a failed `send`: the `client_id` it carried, so the sender can mark it failed.
 */
client_id?: string, } | { "type": "read_marker", room_id: string, seq: number, } | { "type": "notification", room_id: string, message: Message, } | { "type": "call.state", room_id: string, participants: Array<User>, ref?: unknown, } | { "type": "call.signal", room_id: string, 
/**
 * The sender's user id.
 */
from: string, data: unknown, };

export type Credentials = { username: string, password: string, };

export type GuestRequest = { username: string, };

export type AuthResponse = { user: User, token: string, 
/**
 * True only on the registration that made this install's first site admin.
 */
first_admin: boolean, };

export type CreateRoomRequest = { name: string, topic?: string, 
/**
 * "public" (the default) or "private"; DMs come from `POST /api/dms`.
 */
kind?: RoomKind, };

export type OpenDmRequest = { usernames: Array<string>, };

export type CreateInviteRequest = { 
/**
 * How many people may accept it; absent: no limit.
 */
max_uses?: number, 
/**
 * Seconds until it expires; absent: never.
 */
expires_in_secs?: number, };

export type InviteCreated = { code: string, 
/**
 * The web UI's page for the code: `/invite/{code}`.
 */
url: string, expires_at: string | null, max_uses: number | null, };

export type InvitePreview = { code: string, room: Room, expires_at: string | null, max_uses: number | null, uses: number, };

export type AddMemberRequest = { username: string, };

export type ChangeRoleRequest = { role: string, };

export type UpdateRoomRequest = { name?: string, topic?: string, rearrange?: string, 
/**
 * Who may pin: "anyone" or "moderators" (issue #10).
 */
pins?: string, 
/**
 * "anyone" or "moderators": who may mention everyone (`@room`, `@here`).
 */
mention_everyone?: string, };

export type SendMessageRequest = { client_id: string, body: string, 
/**
 * The message this one answers (of the same room).
 */
reply_to?: string, 
/**
 * Post into this message's thread (a reply's thread is its first message's).
 */
thread_id?: string, attachments?: Array<string>, };

export type EditMessageRequest = { body: string, };

export type MoveMessageRequest = { 
/**
 * The message to place it after; `null` moves it to the top.
 */
after: string | null, };

export type MessagePage = { messages: Array<Message>, 
/**
 * Older messages exist, before the page's first.
 */
has_more: boolean, 
/**
 * Newer messages exist, after the page's last: given by `around` and `after` pages only
 * (a page read back from the end or from `before` leaves it out).
 */
has_newer?: boolean, };

export type EventPage = { events: Array<Event>, last_seq: number, 
/**
 * With `live`: who is online in the room now, cluster-wide (sockets and live pollers),
 * the reader included; left out when that has not changed since the token passed.
 */
online?: Array<User>, 
/**
 * With `live`: who is typing in the room now (a typing notice in the last 6 s), never the
 * reader.
 */
typing?: Array<User>, 
/**
 * With `live`: a token naming the online and typing state; pass it as `live` next time.
 */
live?: string, 
/**
 * The page ends with the reader's own removal from the room (kicked, banned, left): stop
 * polling it, as a socket's `removed` frame says.
 */
removed?: RemovedReason, };

export type ErrorBody = { error: ErrorDetail, };

export type ErrorDetail = { code: string, message: string, };

export type Bot = { user: User, 
/**
 * The only rooms its token may reach (every other room answers `room_not_found`);
 * `null`: not limited (it reaches what any signed-in account may).
 */
room_ids: Array<string> | null, created_at: string, };

export type CreateBotRequest = { 
/**
 * Follows the username rules and is unique among all users.
 */
username: string, 
/**
 * Limit the bot's token to these rooms (it joins each); omit for no limit.
 */
room_ids?: Array<string>, };

export type BotToken = { token: string, };

export type Webhook = { id: string, room_id: string, name: string, 
/**
 * The bot-like user its messages are posted as (`username` = `name`).
 */
user: User, created_at: string, };

export type CreatedWebhook = { id: string, room_id: string, name: string, 
/**
 * `/hooks/{id}/{secret}`: a path on this server; `POST` it with `{body}`.
 */
url: string, user: User, created_at: string, };

export type CreateWebhookRequest = { 
/**
 * Follows the username rules: it is the username of the webhook's poster.
 */
name: string, };

export type WebhookPost = { body: string, 
/**
 * Makes a retry idempotent (the original answers 200); a fresh one is made when omitted.
 */
client_id?: string, };

export type RemovedReason = "kicked" | "banned" | "left" | "deleted";

export type Sanction = { room_id: string, user: User, 
/**
 * The moderator who placed it.
 */
by: User, 
/**
 * When it ends by itself; `null`: when it is lifted.
 */
expires_at: string | null, created_at: string, };

export type Report = { id: string, room_id: string, 
/**
 * The message as it is now (a deleted one has an empty body).
 */
message: Message, reporter: User, reason: string, created_at: string, };

export type AuditAction = "kick" | "ban" | "unban" | "mute" | "unmute" | "role" | "delete_message" | "report" | "clear" | "delete_room";

export type AuditEntry = { id: string, at: string, actor: User, action: AuditAction, room_id: string | null, target_user_id: string | null, 
/**
 * What else the action concerned (`expires_at`, `message_id`, `reason`, `role`, …).
 */
detail: Record<string, unknown>, };

export type TargetRequest = { user_id: string, };

export type SanctionRequest = { user_id: string, 
/**
 * Seconds until it ends by itself (1 to 31,536,000); absent or `null`: until lifted.
 */
expires_in_secs?: number, };

export type ReportRequest = { 
/**
 * 1–500 characters after trimming.
 */
reason: string, };

export type UpdateProfileRequest = { 
/**
 * 1–64 characters after trimming (NFC; no invisible or text-direction characters).
 */
display_name?: string | null, 
/**
 * At most 500 characters.
 */
bio?: string | null, 
/**
 * An IANA time zone name (`Europe/Paris`), at most 64 characters.
 */
timezone?: string | null, };

export type UserProfile = { user: User, bio: string, timezone: string | null, created_at: string, };

export type PasswordChange = { current_password: string, new_password: string, };

export type ClaimRequest = { password: string, };

export type DeleteAccountRequest = { password?: string, };

export type SessionView = { 
/**
 * Public id (not the token): `DELETE /api/me/sessions/{id}` revokes it.
 */
id: string, created_at: string, 
/**
 * Noted at most once a minute; `null` before the first use after sign-in was noted.
 */
last_seen_at: string | null, 
/**
 * When it stops working; `null`: never.
 */
expires_at: string | null, 
/**
 * The session this request was made with.
 */
current: boolean, };

export type ExportMembership = { room_id: string, room_name: string, kind: RoomKind, role: Role, };

export type ExportReaction = { room_id: string, message_id: string, emoji: string, };

export type ExportReadState = { room_id: string, last_read_seq: number, notifications: string | null, };

export type ExportFile = { id: string, name: string, size: number, content_type: string, room_id: string | null, message_id: string | null, created_at: string, };

export type ExportPushSubscription = { endpoint: string, created_at: string, };

export type AccountExport = { exported_at: string, user: User, bio: string, timezone: string | null, created_at: string, memberships: Array<ExportMembership>, sessions: Array<SessionView>, 
/**
 * The reactions the person gave to live messages.
 */
reactions: Array<ExportReaction>, 
/**
 * Read markers and notification levels, per room.
 */
read_state: Array<ExportReadState>, 
/**
 * The files the person uploaded (the metadata; each `id`'s bytes are at `/api/files/{id}`).
 */
files: Array<ExportFile>, push_subscriptions: Array<ExportPushSubscription>, messages: Array<Message>, };

export type ServerConfig = { allow_guests: boolean, 
/**
 * How long a guest's name stays theirs after their last session ended.
 */
guest_name_grace_secs: number, };

export type PinPolicy = "anyone" | "moderators";

export type ThreadSummary = { reply_count: number, last_reply_at: string, };

export type Reaction = { emoji: string, count: number, 
/**
 * In the order they reacted.
 */
user_ids: Array<string>, };

export type MentionEveryone = "anyone" | "moderators";

export type NotificationLevel = "all" | "mentions" | "nothing";

export type ReadRequest = { seq: number, };

export type UnreadEntry = { room_id: string, 
/**
 * Everything up to this seq is read (0: nothing yet).
 */
last_read_seq: number, 
/**
 * Others' live messages after `last_read_seq`, counted among the room's last
 * `UNREAD_WINDOW` (1000) events only: when `last_seq - last_read_seq` is larger, there
 * may be more (show "999+").
 */
unread: number, 
/**
 * Those of them that mention the caller (not capped).
 */
mentions: number, 
/**
 * The room's last seq.
 */
last_seq: number, 
/**
 * The caller's notification level in the room (the default when they set none).
 */
notifications: NotificationLevel, };

export type NotificationsRequest = { level: NotificationLevel, };

export type PushKey = { public_key: string, };

export type PushSubscriptionKeys = { 
/**
 * base64url of the browser's P-256 public key (65 bytes, uncompressed).
 */
p256dh: string, 
/**
 * base64url of the 16-byte authentication secret.
 */
auth: string, };

export type PushSubscriptionRequest = { endpoint: string, keys: PushSubscriptionKeys, };

export type PushUnsubscribeRequest = { endpoint: string, };

export type PushPayload = { room_id: string, room_name: string, message_id: string, seq: number, 
/**
 * The author's display name, else their username.
 */
author: string, 
/**
 * The start of the body (at most 200 characters).
 */
body: string, 
/**
 * Whether the message mentions the recipient.
 */
mention: boolean, };

export type SearchHit = { message: Message, 
/**
 * The matched words and phrases in `message.body`: `[start, end]` offsets in Unicode code
 * points, end exclusive, sorted, not overlapping.
 */
highlights: Array<[number, number]>, };

export type SearchResults = { results: Array<SearchHit>, 
/**
 * Pass as `before` for the next (older) page; `null`: this was the last.
 */
next_before: string | null, };

export type FileInfo = { id: string, 
/**
 * The name the uploader gave it (cleaned: no path, no control characters).
 */
name: string, 
/**
 * Bytes.
 */
size: number, 
/**
 * Sniffed from the bytes on the server, never taken from the client.
 */
content_type: string, 
/**
 * Pixels, for images (known before the image loads); `null` otherwise.
 */
width: number | null, height: number | null, 
/**
 * `/api/files/{id}`.
 */
url: string, 
/**
 * `/api/files/{id}/thumbnail` for images that have one; `null` otherwise.
 */
thumbnail_url: string | null, };

export type IceServer = { 
/**
 * `stun:host:port`, `turn:host:port?transport=udp`, `turns:…`.
 */
urls: Array<string>, 
/**
 * For TURN with a shared secret: `"{expiry unix seconds}:{user_id}"` (coturn's REST API
 * scheme); absent for STUN.
 */
username?: string, 
/**
 * base64(HMAC-SHA1(secret, username)); absent for STUN.
 */
credential?: string, };
