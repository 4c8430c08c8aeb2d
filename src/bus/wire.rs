//! What travels between nodes on the Redis channels (see [`super::redis`]): an event as
//! `{seq}:{effects}:{frame}`, and the presence channel's JSON messages.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::EncodedEvent;
use crate::protocol::{Effects, User};

/// A message on the presence channel: who came online or went offline on a node, typing
/// notices, heartbeats, goodbyes and revoked sessions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum PresenceMessage {
    Heartbeat {
        node: String,
        rooms: HashMap<String, Vec<User>>,
    },
    Online {
        node: String,
        room: String,
        user: User,
    },
    Offline {
        node: String,
        room: String,
        user: User,
    },
    Typing {
        node: String,
        room: String,
        user: User,
    },
    Bye {
        node: String,
    },
    /// A session was revoked (logout) on `node`: close its sockets everywhere.
    Revoke {
        node: String,
        token_hash: String,
    },
}

impl PresenceMessage {
    pub(super) fn node(&self) -> &str {
        match self {
            PresenceMessage::Heartbeat { node, .. }
            | PresenceMessage::Online { node, .. }
            | PresenceMessage::Offline { node, .. }
            | PresenceMessage::Typing { node, .. }
            | PresenceMessage::Bye { node }
            | PresenceMessage::Revoke { node, .. } => node,
        }
    }
}

/// The letters of an event's effects on the wire between nodes (see the module doc).
const MEMBERS_CHANGED: char = 'm';
const ENDS_ROOM: char = 'e';

pub(super) fn encode_event(event: &EncodedEvent) -> String {
    let letter = |on: bool, letter: char| if on { Some(letter) } else { None };
    let Effects {
        members_changed,
        ends_room,
    } = event.effects;
    let members_changed = letter(members_changed, MEMBERS_CHANGED).into_iter();
    let ends_room = letter(ends_room, ENDS_ROOM).into_iter();
    let effects: String = members_changed.chain(ends_room).collect();
    format!("{}:{effects}:{}", event.seq, event.frame.as_str())
}

pub(super) fn decode_event(room_id: &str, payload: &[u8]) -> Option<Arc<EncodedEvent>> {
    let text = std::str::from_utf8(payload).ok()?;
    let (seq, rest) = text.split_once(':')?;
    let (effects, frame) = rest.split_once(':')?;
    if !effects
        .chars()
        .all(|c| c == MEMBERS_CHANGED || c == ENDS_ROOM)
    {
        return None;
    }
    let effects = Effects {
        members_changed: effects.contains(MEMBERS_CHANGED),
        ends_room: effects.contains(ENDS_ROOM),
    };
    Some(EncodedEvent::from_frame(
        Arc::from(room_id),
        seq.parse().ok()?,
        Utf8Bytes::from(frame.to_string()),
        effects,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_survives_the_wire_format() {
        let frame = r#"{"type":"event","event":{"room_id":"r","seq":7,"kind":"room.deleted"}}"#;
        for effects in [
            Effects::default(),
            Effects {
                members_changed: true,
                ends_room: false,
            },
            Effects {
                members_changed: false,
                ends_room: true,
            },
        ] {
            let event =
                EncodedEvent::from_frame(Arc::from("r"), 7, Utf8Bytes::from(frame), effects);
            let decoded = decode_event("r", encode_event(&event).as_bytes()).unwrap();
            assert_eq!(decoded.seq, 7);
            assert_eq!(decoded.frame.as_str(), frame);
            assert_eq!(
                decoded.effects, effects,
                "the effects travel with the event, not in its text"
            );
        }
    }

    #[test]
    fn an_envelope_without_its_effects_is_refused() {
        assert!(decode_event("r", br#"7:{"type":"event"}"#).is_none());
        assert!(decode_event("r", br#"7:x:{"type":"event"}"#).is_none());
    }
}
