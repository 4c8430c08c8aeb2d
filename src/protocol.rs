//! The wire types of API version 1: objects, events, and the WebSocket frames in both directions.
//!
//! This module is the one definition of the protocol. REST bodies and socket frames are built from
//! these types and nothing else, so the names in `API.md` live in exactly one place. It holds no
//! behaviour beyond (de)serialisation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub guest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anyone" => Some(Rearrange::Anyone),
            "moderators" => Some(Rearrange::Moderators),
            "nobody" => Some(Rearrange::Nobody),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// One entry of a room's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub room_id: String,
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum EventKind {
    #[serde(rename = "message.created")]
    MessageCreated { message: Message },
    #[serde(rename = "message.edited")]
    MessageEdited { message: Message },
    #[serde(rename = "message.deleted")]
    MessageDeleted { message_id: String },
    #[serde(rename = "message.moved")]
    MessageMoved {
        message_id: String,
        position: String,
        after: Option<String>,
    },
    #[serde(rename = "room.cleared")]
    RoomCleared { by: User },
    #[serde(rename = "member.joined")]
    MemberJoined { user: User },
    #[serde(rename = "member.left")]
    MemberLeft { user: User },
    #[serde(rename = "room.updated")]
    RoomUpdated { room: Room },
    #[serde(rename = "room.deleted")]
    RoomDeleted {},
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
            EventKind::RoomDeleted {} => "room.deleted",
        }
    }
}

/// Frames a client sends. `type` selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Subscribe {
        room_id: String,
        #[serde(default)]
        after: Option<u64>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
    },
    Unsubscribe {
        room_id: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
    },
    Send {
        room_id: String,
        client_id: String,
        body: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
    },
    Ping {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
    },
}

impl ClientFrame {
    /// Every `type` the server understands; anything else is `unknown_type`.
    pub const TYPES: &'static [&'static str] = &["subscribe", "unsubscribe", "send", "ping"];
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        online: Vec<User>,
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
    Pong {
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    Error {
        code: String,
        message: String,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<Value>,
        /// For a failed `send`: the `client_id` it carried, so the sender can mark it failed.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_id: Option<String>,
    },
}

/// WebSocket close codes of the protocol.
pub mod close_code {
    /// The server is shutting down: reconnect, elsewhere if you can.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy: unauthenticated, bad `Origin`, or session revoked.
    pub const POLICY: u16 = 1008;
    /// A frame larger than the server accepts.
    pub const TOO_LARGE: u16 = 1009;
    /// The client fell too far behind: reconnect and resume with `after`.
    pub const SLOW_CONSUMER: u16 = 4008;
}

// REST bodies.

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestRequest {
    pub username: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthResponse {
    pub user: User,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateRoomRequest {
    pub name: String,
    #[serde(default)]
    pub topic: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMessageRequest {
    pub client_id: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub last_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_serialises_with_its_kind_beside_the_common_fields() {
        let event = Event {
            room_id: "r1".into(),
            seq: 7,
            at: "2026-01-01T00:00:00.000Z".into(),
            kind: EventKind::MessageDeleted {
                message_id: "m1".into(),
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

    #[test]
    fn a_send_frame_parses_and_missing_fields_are_refused() {
        let frame: ClientFrame = serde_json::from_str(
            r#"{"type":"send","room_id":"r","client_id":"c","body":"hi"}"#,
        )
        .unwrap();
        assert!(matches!(frame, ClientFrame::Send { .. }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"send","room_id":"r"}"#).is_err());
    }
}
