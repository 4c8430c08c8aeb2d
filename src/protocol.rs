//! The wire types of API version 1: objects, events, and the WebSocket frames in both directions.
//!
//! (Over 500 lines on purpose: every wire type in one file is what keeps it the one definition
//! the TypeScript types are generated from; it is declarations, not logic.)
//!
//! This module is the one definition of the protocol. REST bodies and socket frames are built from
//! these types and nothing else, so the names in `API.md` live in exactly one place. It holds no
//! behaviour beyond (de)serialisation.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

mod moderation;
pub use moderation::*;
mod search;
pub use search::*;
mod accounts;
pub use accounts::*;
mod unread;
pub use unread::*;
mod files;
pub use files::*;
mod calls;
pub use calls::*;

/// The protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub guest: bool,
    /// A site admin (the first account of a fresh install, or granted with `palaver admin`).
    /// Absent in events logged before it existed, which read as `false`.
    #[serde(default)]
    pub admin: bool,
    /// The name to show; `null` when the person set none (show `username`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// A bot account (owned by a person, signed in with its token) or a webhook's poster:
    /// clients badge it. Absent in events logged before bots existed, which read as `false`.
    #[serde(default)]
    pub bot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rearrange {
    Anyone,
    Moderators,
    Nobody,
}

impl Rearrange {
    pub fn as_str(self) -> &'static str {
        match self {
            Rearrange::Anyone => "anyone",
            Rearrange::Moderators => "moderators",
            Rearrange::Nobody => "nobody",
        }
    }

    /// Every setting, in the order the OpenAPI document lists them.
    pub const ALL: [Rearrange; 3] = [Rearrange::Anyone, Rearrange::Moderators, Rearrange::Nobody];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What kind of room: public (listed, anyone may join), private (invite only, unlisted to
/// non-members) or direct (a DM among up to 8 people).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    #[default]
    Public,
    Private,
    Direct,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(RoomKind::Public),
            "private" => Some(RoomKind::Private),
            "direct" => Some(RoomKind::Direct),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Room {
    pub id: String,
    pub name: String,
    pub topic: String,
    /// `null` for the default rooms, which belong to nobody.
    pub owner_id: Option<String>,
    pub member_count: u64,
    pub online_count: u64,
    pub last_seq: u64,
    pub rearrange: Rearrange,
    pub created_at: String,
    /// Absent in events logged before room kinds existed: those rooms were public.
    #[serde(default)]
    pub kind: RoomKind,
    /// Whether the caller is a member. In frames shared by many people (`room.updated` events,
    /// `room_list`) it is `false` and `my_role` is `null`: ask `GET /api/rooms/{id}` for yours.
    #[serde(default)]
    pub member: bool,
    /// The caller's role in the room, `null` when not a member.
    #[serde(default)]
    pub my_role: Option<Role>,
    // Pins (issue #10, feat-threads).
    /// Who may pin messages: `moderators` (the default in rooms) or `anyone` who may post (the
    /// default in DMs). Absent in events logged before pins existed.
    #[serde(default)]
    pub pins: PinPolicy,
    /// Who may mention everyone with `@room` / `@here` (issue #10). Absent in events logged
    /// before it existed: anyone.
    #[serde(default)]
    pub mention_everyone: MentionEveryone,
}

/// Who may pin and unpin a room's messages (issue #10).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PinPolicy {
    Anyone,
    #[default]
    Moderators,
}

impl PinPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PinPolicy::Anyone => "anyone",
            PinPolicy::Moderators => "moderators",
        }
    }

    /// Every setting, in the order the OpenAPI document lists them.
    pub const ALL: [PinPolicy; 2] = [PinPolicy::Anyone, PinPolicy::Moderators];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    /// A room admin: the room role of API version 1, kept for old rows; moderates like a
    /// moderator. New grants use `moderator`.
    Admin,
    Moderator,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Member => "member",
        }
    }

    /// Owner, room admin or moderator: may moderate the room.
    pub fn moderates(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Moderator)
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "moderator" => Some(Role::Moderator),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Message {
    pub id: String,
    pub room_id: String,
    /// The room event that created this message.
    pub seq: u64,
    pub author: User,
    pub body: String,
    pub client_id: String,
    pub created_at: String,
    pub edited_at: Option<String>,
    /// Display-order key: messages sort by this string.
    pub position: String,
    // Replies, threads, reactions, pins (issue #10, feat-threads).
    /// The message this one answers (a message of the same room), or `null`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// For a thread reply: the thread's first message (a top-level message of the room). Room
    /// history pages leave thread replies out; `GET …/threads/{thread_id}/messages` pages them.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// On a thread's first message: its live replies' count and the newest one's time;
    /// `null` when it has none.
    #[serde(default)]
    pub thread: Option<ThreadSummary>,
    /// Reactions, one entry per emoji, first reacted first.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// Whether the message is pinned in its room.
    #[serde(default)]
    pub pinned: bool,
    // Mentions (issue #10, feat-unread).
    /// The people the message mentions (`@name`, and everyone for `@room` / `@here`), by id:
    /// only people who may read the room. Absent in events logged before mentions existed.
    #[serde(default)]
    pub mentions: Vec<String>,
    // Files (#12): the files the message carries, in the order sent. Absent in events logged
    // before files existed, which read as none.
    #[serde(default)]
    pub attachments: Vec<FileInfo>,
}

/// A thread's summary, on its first message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ThreadSummary {
    pub reply_count: u64,
    pub last_reply_at: String,
}

/// The people who reacted to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: u64,
    /// In the order they reacted.
    pub user_ids: Vec<String>,
}

/// One entry of a room's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Event {
    pub room_id: String,
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(tag = "kind")]
pub enum EventKind {
    /// A new message. For a thread reply, `thread` is its thread's first message's new summary.
    #[serde(rename = "message.created")]
    MessageCreated {
        message: Message,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        thread: Option<ThreadSummary>,
    },
    #[serde(rename = "message.edited")]
    MessageEdited { message: Message },
    /// A message is gone, with its reactions and pin; a thread's first message takes its
    /// replies with it. For a deleted thread reply, `thread_id` names its thread's first
    /// message and `thread` is that message's new summary (absent when no reply is left).
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        thread_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        thread: Option<ThreadSummary>,
    },
    /// A message took a new place. `by` names who moved it (absent in events recorded before
    /// it was added); a respacing the move caused names the same person.
    #[serde(rename = "message.moved")]
    MessageMoved {
        message_id: String,
        position: String,
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        by: Option<User>,
    },
    #[serde(rename = "room.cleared")]
    RoomCleared { by: User },
    #[serde(rename = "member.joined")]
    MemberJoined { user: User },
    #[serde(rename = "member.left")]
    MemberLeft { user: User },
    #[serde(rename = "room.updated")]
    RoomUpdated { room: Room },
    /// The room's owner made `user` a moderator or a member again.
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged { user: User, role: Role, by: User },
    /// The room is gone. `by` names who deleted it (its owner or a site admin), so members can
    /// be told; absent in events recorded before it was added.
    #[serde(rename = "room.deleted")]
    RoomDeleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        by: Option<User>,
    },
    /// A moderator removed a member; they may join again (a public room).
    #[serde(rename = "member.kicked")]
    MemberKicked { user: User, by: User },
    /// A moderator banned someone (a member or not) until `expires_at` (`null`: until lifted).
    #[serde(rename = "member.banned")]
    MemberBanned {
        user: User,
        by: User,
        expires_at: Option<String>,
    },
    #[serde(rename = "member.unbanned")]
    MemberUnbanned { user: User, by: User },
    /// A moderator muted someone until `expires_at` (`null`: until lifted): they may read, not post.
    #[serde(rename = "member.muted")]
    MemberMuted {
        user: User,
        by: User,
        expires_at: Option<String>,
    },
    #[serde(rename = "member.unmuted")]
    MemberUnmuted { user: User, by: User },
    // Reactions and pins (issue #10, feat-threads).
    #[serde(rename = "reaction.added")]
    ReactionAdded {
        message_id: String,
        emoji: String,
        user: User,
    },
    #[serde(rename = "reaction.removed")]
    ReactionRemoved {
        message_id: String,
        emoji: String,
        user: User,
    },
    #[serde(rename = "message.pinned")]
    MessagePinned { message_id: String, by: User },
    #[serde(rename = "message.unpinned")]
    MessageUnpinned { message_id: String, by: User },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::MessageCreated { .. } => "message.created",
            EventKind::MessageEdited { .. } => "message.edited",
            EventKind::MessageDeleted { .. } => "message.deleted",
            EventKind::MessageMoved { .. } => "message.moved",
            EventKind::RoomCleared { .. } => "room.cleared",
            EventKind::MemberJoined { .. } => "member.joined",
            EventKind::MemberLeft { .. } => "member.left",
            EventKind::RoomUpdated { .. } => "room.updated",
            EventKind::MemberRoleChanged { .. } => "member.role_changed",
            EventKind::RoomDeleted { .. } => "room.deleted",
            EventKind::MemberKicked { .. } => "member.kicked",
            EventKind::MemberBanned { .. } => "member.banned",
            EventKind::MemberUnbanned { .. } => "member.unbanned",
            EventKind::MemberMuted { .. } => "member.muted",
            EventKind::MemberUnmuted { .. } => "member.unmuted",
            EventKind::ReactionAdded { .. } => "reaction.added",
            EventKind::ReactionRemoved { .. } => "reaction.removed",
            EventKind::MessagePinned { .. } => "message.pinned",
            EventKind::MessageUnpinned { .. } => "message.unpinned",
        }
    }

    /// What an event of this kind does beyond its own room's log (see [`Effects`]).
    pub fn effects(&self) -> Effects {
        let user = match self {
            EventKind::MemberKicked { user, .. }
            | EventKind::MemberBanned { user, .. }
            | EventKind::MemberLeft { user } => Some(user.id.as_str()),
            _ => None,
        };
        Effects::of_kind(self.name(), user)
    }
}

/// What an event does to things outside its own record, decided once from its typed kind and
/// carried beside its encoded bytes (so nothing re-reads the JSON to find out). Not on the wire
/// to clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// `member.joined` / `member.left`: the room's member count changed (its room-list entry is
    /// due for an update).
    pub members_changed: bool,
    /// `room.deleted`: the last event the room ever has; subscriptions end after it.
    pub ends_room: bool,
    /// `message.deleted` / `room.cleared`: earlier events of the room were rewritten in the store
    /// (their text erased), so a copy of them kept for long-polls is stale.
    pub erases: bool,
    /// `member.kicked` / `member.banned` / `member.left`: that user's subscriptions to the room
    /// end after it, each with a `removed` frame.
    pub removes: Option<Removal>,
}

/// Whose subscriptions to a room an event ends, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub user_id: String,
    pub reason: RemovedReason,
}

impl Effects {
    /// The effects of an event of this kind (its `kind` name on the wire), whose `user` (for
    /// the member events) is `user_id`.
    pub fn of_kind(kind: &str, user_id: Option<&str>) -> Effects {
        let reason = match kind {
            "member.kicked" => Some(RemovedReason::Kicked),
            "member.banned" => Some(RemovedReason::Banned),
            // A member who left stops getting the room on every socket of theirs: in a private
            // room or DM they may no longer read it (and in a public one they chose to go).
            "member.left" => Some(RemovedReason::Left),
            _ => None,
        };
        Effects {
            members_changed: matches!(
                kind,
                "member.joined" | "member.left" | "member.kicked" | "member.banned"
            ),
            ends_room: kind == "room.deleted",
            erases: matches!(kind, "message.deleted" | "room.cleared"),
            removes: reason.zip(user_id).map(|(reason, user_id)| Removal {
                user_id: user_id.to_string(),
                reason,
            }),
        }
    }
}

/// A client's correlation value for a request: echoed in the answer (`pong`, `error`). Any JSON.
pub type Ref = Value;

/// Frames a client sends. `type` selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Subscribe {
        room_id: String,
        #[serde(default)]
        #[ts(optional)]
        after: Option<u64>,
        /// How much presence the subscription wants (by default `full`: who is online).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        presence: Option<PresenceMode>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Unsubscribe {
        room_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Send {
        room_id: String,
        client_id: String,
        body: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
        // Replies and threads (issue #10, feat-threads).
        /// The message this one answers (of the same room).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reply_to: Option<String>,
        /// Post into this message's thread (a reply's thread is its first message's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        thread_id: Option<String>,
        // Files (#12): ids of the sender's own uploads to attach.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[ts(as = "Option<Vec<String>>", optional)]
        attachments: Vec<String>,
    },
    Edit {
        room_id: String,
        message_id: String,
        body: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Delete {
        room_id: String,
        message_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Move {
        room_id: String,
        message_id: String,
        /// The message to place it after; `null` moves it to the top. Required (may be null).
        #[serde(deserialize_with = "required_nullable")]
        after: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Clear {
        room_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Typing {
        room_id: String,
    },
    Ping {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    // Reactions (issue #10, feat-threads).
    React {
        room_id: String,
        message_id: String,
        emoji: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    Unreact {
        room_id: String,
        message_id: String,
        emoji: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    // Read markers (issue #10, feat-unread).
    /// Everything of the room up to `seq` is read (as `PUT /api/rooms/{room_id}/read`).
    Read {
        room_id: String,
        seq: u64,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    // Calls (#13).
    /// Join the room's call (starting it if none runs): needs a subscription to the room.
    #[serde(rename = "call.join")]
    CallJoin {
        room_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    /// Leave the room's call.
    #[serde(rename = "call.leave")]
    CallLeave {
        room_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    /// WebRTC signalling (an offer, an answer, an ICE candidate: `data` is opaque to the
    /// server) for another participant of the room's call.
    #[serde(rename = "call.signal")]
    CallSignal {
        room_id: String,
        /// The participant's user id.
        to: String,
        #[ts(type = "unknown")]
        data: Value,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
}

/// `after` of a move must be present; `null` is a meaningful value (the top), not a default.
fn required_nullable<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(deserializer)
}

impl ClientFrame {
    /// Every `type` the server understands; anything else is `unknown_type`.
    pub const TYPES: &'static [&'static str] = &[
        "subscribe",
        "unsubscribe",
        "send",
        "edit",
        "delete",
        "move",
        "clear",
        "typing",
        "ping",
        "react",
        "unreact",
        "read",
        "call.join",
        "call.leave",
        "call.signal",
    ];

    /// The request's `ref`, echoed in its error frame.
    pub fn reference(&self) -> Option<&Ref> {
        match self {
            ClientFrame::Subscribe { reference, .. }
            | ClientFrame::Unsubscribe { reference, .. }
            | ClientFrame::Send { reference, .. }
            | ClientFrame::Edit { reference, .. }
            | ClientFrame::Delete { reference, .. }
            | ClientFrame::Move { reference, .. }
            | ClientFrame::Clear { reference, .. }
            | ClientFrame::Ping { reference }
            | ClientFrame::React { reference, .. }
            | ClientFrame::Unreact { reference, .. } => reference.as_ref(),
            ClientFrame::Read { reference, .. }
            | ClientFrame::CallJoin { reference, .. }
            | ClientFrame::CallLeave { reference, .. }
            | ClientFrame::CallSignal { reference, .. } => reference.as_ref(),
            ClientFrame::Typing { .. } => None,
        }
    }
}

/// How much presence a subscription wants: `full`, who is online (the `subscribed` answer's list
/// and `presence` frames naming who came and went), or `counts`, only how many (for big rooms,
/// whose full lists cost every member a frame naming everyone).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PresenceMode {
    #[default]
    Full,
    Counts,
}

/// How the room list changed, in a `room_list` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomListChange {
    Created,
    Updated,
    Deleted,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello {
        user: User,
        protocol: u32,
        node_id: String,
    },
    Subscribed {
        room_id: String,
        last_seq: u64,
        /// Who is online (empty for a `presence: "counts"` subscription).
        online: Vec<User>,
        /// How many are online: only for a `presence: "counts"` subscription.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        online_count: Option<u64>,
    },
    Unsubscribed {
        room_id: String,
    },
    Resync {
        room_id: String,
        last_seq: u64,
    },
    Event {
        event: Event,
    },
    Ack {
        client_id: String,
        message: Message,
    },
    Typing {
        room_id: String,
        user: User,
    },
    Presence {
        room_id: String,
        joined: Vec<User>,
        left: Vec<User>,
        /// How many are online now: only to a `presence: "counts"` subscription (whose
        /// `joined` and `left` are empty).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        online_count: Option<u64>,
    },
    RoomList {
        change: RoomListChange,
        room: Room,
        /// With `change: "deleted"`: who deleted the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        by: Option<User>,
    },
    Pong {
        #[serde(rename = "ref")]
        #[ts(type = "unknown")]
        reference: Option<Ref>,
    },
    /// The connection is no longer subscribed to the room and gets nothing more of it.
    Removed {
        room_id: String,
        reason: RemovedReason,
    },
    /// A message of a room this person moderates was reported.
    Report {
        room_id: String,
        report: Report,
    },
    Error {
        code: String,
        message: String,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
        /// For a failed `send`: the `client_id` it carried, so the sender can mark it failed.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        #[ts(optional)]
        client_id: Option<String>,
    },
    // Read markers and notifications (issue #10, feat-unread).
    /// This person's read marker of the room moved to `seq` (on any of their devices): sent
    /// to every socket of theirs, subscribed to the room or not.
    ReadMarker {
        room_id: String,
        seq: u64,
    },
    /// A message that notifies this person (it mentions them, or their level in the room is
    /// `all`): sent to every socket of theirs, never the author's.
    Notification {
        room_id: String,
        message: Message,
    },
    // Calls (#13).
    /// Who is in the room's call (an empty list: no call runs), sorted by user id: to every
    /// subscriber of the room whenever it changes, and on subscribe while a call runs. The
    /// answer to a `call.join` or `call.leave` is this frame with the request's `ref`.
    #[serde(rename = "call.state")]
    CallState {
        room_id: String,
        participants: Vec<User>,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none", default)]
        #[ts(optional, type = "unknown")]
        reference: Option<Ref>,
    },
    /// Another participant's `call.signal` for this one.
    #[serde(rename = "call.signal")]
    CallSignal {
        room_id: String,
        /// The sender's user id.
        from: String,
        #[ts(type = "unknown")]
        data: Value,
    },
}

impl ServerFrame {
    /// Serialise for the wire. Protocol types always serialise.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("protocol frames always serialise")
    }
}

/// WebSocket close codes of the protocol.
pub mod close_code {
    /// The server is shutting down: reconnect, elsewhere if you can.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy: unauthenticated, bad `Origin`, or session revoked.
    pub const POLICY: u16 = 1008;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame larger than the server accepts.
    pub const TOO_LARGE: u16 = 1009;
    /// The client fell too far behind: reconnect and resume with `after`.
    pub const SLOW_CONSUMER: u16 = 4008;
}

// REST bodies.

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct GuestRequest {
    pub username: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct AuthResponse {
    pub user: User,
    pub token: String,
    /// True only on the registration that made this install's first site admin.
    #[serde(default)]
    pub first_admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct CreateRoomRequest {
    pub name: String,
    #[serde(default)]
    #[ts(optional)]
    pub topic: Option<String>,
    /// "public" (the default) or "private"; DMs come from `POST /api/dms`.
    #[serde(default)]
    #[ts(optional)]
    pub kind: Option<RoomKind>,
}

/// `POST /api/dms`: the other people of the DM, by username (the caller is always in it).
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct OpenDmRequest {
    pub usernames: Vec<String>,
}

/// `POST /api/rooms/{room_id}/invites`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct CreateInviteRequest {
    /// How many people may accept it; absent: no limit.
    #[serde(default)]
    #[ts(optional)]
    pub max_uses: Option<u32>,
    /// Seconds until it expires; absent: never.
    #[serde(default)]
    #[ts(optional)]
    pub expires_in_secs: Option<u64>,
}

/// A new invite. `code` is shown only here: the server keeps only its hash.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct InviteCreated {
    pub code: String,
    /// The web UI's page for the code: `/invite/{code}`.
    pub url: String,
    pub expires_at: Option<String>,
    pub max_uses: Option<u32>,
}

/// `GET /api/invites/{code}`: what a live code leads to.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct InvitePreview {
    pub code: String,
    pub room: Room,
    pub expires_at: Option<String>,
    pub max_uses: Option<u32>,
    pub uses: u32,
}

/// `POST /api/rooms/{room_id}/members`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct AddMemberRequest {
    pub username: String,
}

/// `PATCH /api/rooms/{room_id}/members/{user_id}`: "moderator" or "member".
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ChangeRoleRequest {
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct SendMessageRequest {
    pub client_id: String,
    pub body: String,
    // Replies and threads (issue #10, feat-threads).
    /// The message this one answers (of the same room).
    #[serde(default)]
    #[ts(optional)]
    pub reply_to: Option<String>,
    /// Post into this message's thread (a reply's thread is its first message's).
    #[serde(default)]
    #[ts(optional)]
    pub thread_id: Option<String>,
    // Files (#12): ids of the sender's own uploads to attach.
    #[serde(default)]
    #[ts(as = "Option<Vec<String>>", optional)]
    pub attachments: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct UpdateRoomRequest {
    #[serde(default)]
    #[ts(optional)]
    pub name: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub topic: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub rearrange: Option<String>,
    /// Who may pin: "anyone" or "moderators" (issue #10).
    #[serde(default)]
    #[ts(optional)]
    pub pins: Option<String>,
    /// "anyone" or "moderators": who may mention everyone (`@room`, `@here`).
    #[serde(default)]
    #[ts(optional)]
    pub mention_everyone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct EditMessageRequest {
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct MoveMessageRequest {
    /// The message to place it after; `null` moves it to the top.
    #[serde(deserialize_with = "required_nullable")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// Older messages exist, before the page's first.
    pub has_more: bool,
    /// Newer messages exist, after the page's last: given by `around` and `after` pages only
    /// (a page read back from the end or from `before` leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub has_newer: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub last_seq: u64,
    /// With `live`: who is online in the room now, cluster-wide (sockets and live pollers),
    /// the reader included; left out when that has not changed since the token passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub online: Option<Vec<User>>,
    /// With `live`: who is typing in the room now (a typing notice in the last 6 s), never the
    /// reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub typing: Option<Vec<User>>,
    /// With `live`: a token naming the online and typing state; pass it as `live` next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub live: Option<String>,
    /// The page ends with the reader's own removal from the room (kicked, banned, left): stop
    /// polling it, as a socket's `removed` frame says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub removed: Option<RemovedReason>,
}

/// An [`EventPage`] written from events already encoded (their JSON as the log or the fan-out
/// has it), with no decode and re-encode of each.
pub struct RawEventPage<'a> {
    pub events: &'a [&'a str],
    pub last_seq: u64,
    pub live: Option<RawLive<'a>>,
    pub removed: Option<RemovedReason>,
}

/// A live poll's part of a [`RawEventPage`].
pub struct RawLive<'a> {
    /// Who is online, when it changed since the reader's token.
    pub online: Option<&'a [User]>,
    pub typing: &'a [User],
    pub token: &'a str,
}

impl RawEventPage<'_> {
    pub fn encode(&self) -> String {
        use std::fmt::Write;
        let size: usize = self.events.iter().map(|e| e.len() + 1).sum();
        let mut out = String::with_capacity(size + 64);
        out.push_str(r#"{"events":["#);
        for (i, event) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(event);
        }
        let _ = write!(out, r#"],"last_seq":{}"#, self.last_seq);
        // Users, a token and a reason: none can fail to serialize.
        fn json<T: Serialize + ?Sized>(value: &T) -> String {
            serde_json::to_string(value).unwrap_or_default()
        }
        if let Some(RawLive {
            online,
            typing,
            token,
        }) = &self.live
        {
            if let Some(online) = online {
                let _ = write!(out, r#","online":{}"#, json(online));
            }
            let _ = write!(out, r#","typing":{},"live":{}"#, json(typing), json(token));
        }
        if let Some(removed) = self.removed {
            let _ = write!(out, r#","removed":{}"#, json(&removed));
        }
        out.push('}');
        out
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// A bot account as its owner sees it (`GET /api/bots`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Bot {
    pub user: User,
    /// The only rooms its token may reach (every other room answers `room_not_found`);
    /// `null`: not limited (it reaches what any signed-in account may).
    pub room_ids: Option<Vec<String>>,
    pub created_at: String,
}

/// `POST /api/bots`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct CreateBotRequest {
    /// Follows the username rules and is unique among all users.
    pub username: String,
    /// Limit the bot's token to these rooms (it joins each); omit for no limit.
    #[serde(default)]
    #[ts(optional)]
    pub room_ids: Option<Vec<String>>,
}

/// A bot's new token (shown once).
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct BotToken {
    pub token: String,
}

/// An incoming webhook of a room, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    pub room_id: String,
    pub name: String,
    /// The bot-like user its messages are posted as (`username` = `name`).
    pub user: User,
    pub created_at: String,
}

/// A webhook just made: its `url` holds the secret and is shown only this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct CreatedWebhook {
    pub id: String,
    pub room_id: String,
    pub name: String,
    /// `/hooks/{id}/{secret}`: a path on this server; `POST` it with `{body}`.
    pub url: String,
    pub user: User,
    pub created_at: String,
}

/// `POST /api/rooms/{room_id}/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct CreateWebhookRequest {
    /// Follows the username rules: it is the username of the webhook's poster.
    pub name: String,
}

/// `POST /hooks/{id}/{secret}`: a message to post.
#[derive(Debug, Clone, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct WebhookPost {
    pub body: String,
    /// Makes a retry idempotent (the original answers 200); a fresh one is made when omitted.
    #[serde(default)]
    #[ts(optional)]
    pub client_id: Option<String>,
}

/// The TypeScript declarations of every wire type, for the web client (`web/src/protocol.gen.ts`).
pub fn typescript_declarations() -> String {
    let cfg = ts_rs::Config::new().with_large_int("number");
    let decls = [
        User::decl(&cfg),
        Rearrange::decl(&cfg),
        RoomKind::decl(&cfg),
        Room::decl(&cfg),
        Role::decl(&cfg),
        Member::decl(&cfg),
        Message::decl(&cfg),
        Event::decl(&cfg),
        EventKind::decl(&cfg),
        ClientFrame::decl(&cfg),
        PresenceMode::decl(&cfg),
        RoomListChange::decl(&cfg),
        ServerFrame::decl(&cfg),
        Credentials::decl(&cfg),
        GuestRequest::decl(&cfg),
        AuthResponse::decl(&cfg),
        CreateRoomRequest::decl(&cfg),
        OpenDmRequest::decl(&cfg),
        CreateInviteRequest::decl(&cfg),
        InviteCreated::decl(&cfg),
        InvitePreview::decl(&cfg),
        AddMemberRequest::decl(&cfg),
        ChangeRoleRequest::decl(&cfg),
        UpdateRoomRequest::decl(&cfg),
        SendMessageRequest::decl(&cfg),
        EditMessageRequest::decl(&cfg),
        MoveMessageRequest::decl(&cfg),
        MessagePage::decl(&cfg),
        EventPage::decl(&cfg),
        ErrorBody::decl(&cfg),
        ErrorDetail::decl(&cfg),
        Bot::decl(&cfg),
        CreateBotRequest::decl(&cfg),
        BotToken::decl(&cfg),
        Webhook::decl(&cfg),
        CreatedWebhook::decl(&cfg),
        CreateWebhookRequest::decl(&cfg),
        WebhookPost::decl(&cfg),
        RemovedReason::decl(&cfg),
        Sanction::decl(&cfg),
        Report::decl(&cfg),
        AuditAction::decl(&cfg),
        AuditEntry::decl(&cfg),
        TargetRequest::decl(&cfg),
        SanctionRequest::decl(&cfg),
        ReportRequest::decl(&cfg),
        UpdateProfileRequest::decl(&cfg),
        UserProfile::decl(&cfg),
        PasswordChange::decl(&cfg),
        ClaimRequest::decl(&cfg),
        DeleteAccountRequest::decl(&cfg),
        SessionView::decl(&cfg),
        ExportMembership::decl(&cfg),
        ExportReaction::decl(&cfg),
        ExportReadState::decl(&cfg),
        ExportFile::decl(&cfg),
        ExportPushSubscription::decl(&cfg),
        AccountExport::decl(&cfg),
        ServerConfig::decl(&cfg),
        PinPolicy::decl(&cfg),
        ThreadSummary::decl(&cfg),
        Reaction::decl(&cfg),
        MentionEveryone::decl(&cfg),
        NotificationLevel::decl(&cfg),
        ReadRequest::decl(&cfg),
        UnreadEntry::decl(&cfg),
        NotificationsRequest::decl(&cfg),
        PushKey::decl(&cfg),
        PushSubscriptionKeys::decl(&cfg),
        PushSubscriptionRequest::decl(&cfg),
        PushUnsubscribeRequest::decl(&cfg),
        PushPayload::decl(&cfg),
        SearchHit::decl(&cfg),
        SearchResults::decl(&cfg),
        FileInfo::decl(&cfg),
        IceServer::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from src/protocol.rs by `cargo test` (UPDATE_TS=1 rewrites it). Do not edit.\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_clients_protocol_types_are_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/web/src/protocol.gen.ts");
        let fresh = typescript_declarations();
        if std::env::var_os("UPDATE_TS").is_some() {
            std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
            std::fs::write(path, &fresh).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            checked_in == fresh,
            "web/src/protocol.gen.ts is stale: run `UPDATE_TS=1 cargo test --lib protocol` and commit it"
        );
    }

    #[test]
    fn an_event_serialises_with_its_kind_beside_the_common_fields() {
        let event = Event {
            room_id: "r1".into(),
            seq: 7,
            at: "2026-01-01T00:00:00.000Z".into(),
            kind: EventKind::MessageDeleted {
                message_id: "m1".into(),
                thread_id: None,
                thread: None,
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"room_id": "r1", "seq": 7, "at": "2026-01-01T00:00:00.000Z",
                "kind": "message.deleted", "message_id": "m1"})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    /// A kick or ban names, in its effects, whose subscriptions it ends; other member events
    /// end none.
    #[test]
    fn kicks_and_bans_carry_whom_they_remove() {
        let user = |id: &str| User {
            id: id.into(),
            username: id.into(),
            guest: true,
            admin: false,
            display_name: None,
            bot: false,
        };
        let banned = EventKind::MemberBanned {
            user: user("u1"),
            by: user("m"),
            expires_at: None,
        };
        let removal = banned.effects().removes.unwrap();
        assert_eq!(
            (removal.user_id.as_str(), removal.reason),
            ("u1", RemovedReason::Banned)
        );
        assert!(banned.effects().members_changed);
        let kicked = EventKind::MemberKicked {
            user: user("u2"),
            by: user("m"),
        };
        assert_eq!(
            kicked.effects().removes.unwrap().reason,
            RemovedReason::Kicked
        );
        let muted = EventKind::MemberMuted {
            user: user("u3"),
            by: user("m"),
            expires_at: None,
        };
        assert_eq!(muted.effects(), Effects::default());
        assert_eq!(
            EventKind::MemberJoined { user: user("u4") }
                .effects()
                .removes,
            None
        );
    }

    #[test]
    fn a_send_frame_parses_and_missing_fields_are_refused() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"send","room_id":"r","client_id":"c","body":"hi"}"#)
                .unwrap();
        assert!(matches!(frame, ClientFrame::Send { .. }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"send","room_id":"r"}"#).is_err());
    }
}
