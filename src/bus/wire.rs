//! What travels between nodes on the Redis channels (see [`super::redis`]): an event as
//! `{seq}{effects}:{frame}` (see [`encode_event`]), and the presence channel's JSON messages.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::EncodedEvent;
use crate::protocol::{Effects, Removal, RemovedReason, User};

/// A message on the presence channel: who came online or went offline on a node, typing
/// notices, heartbeats, goodbyes and revoked sessions; and calls (#13): who joined or left a
/// room's call on a node, and the signalling frames for a participant on another node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum PresenceMessage {
    /// A node's full online list (and call participants) per room: sent when another node
    /// asks for it (`Resend`), and first thing after a node starts.
    Heartbeat {
        node: String,
        rooms: HashMap<String, Vec<User>>,
        /// The node's call participants per room (absent from a node older than calls).
        #[serde(default)]
        calls: HashMap<String, Vec<User>>,
    },
    /// A node's light heartbeat: its call participants, and a digest of its online list (see
    /// [`super::presence::digest`]) that a node whose view of it differs answers with `Resend`.
    Beat {
        node: String,
        online: u64,
        calls: HashMap<String, Vec<User>>,
    },
    /// `node` asks `of` for its full `Heartbeat` (its view of `of` missed something).
    Resend {
        node: String,
        of: String,
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
    /// A frame for these users' sockets, on every node.
    ToUsers {
        node: String,
        users: Vec<String>,
        frame: String,
    },
    /// A user joined a room's call on `node` (the node where they were in it before lets go
    /// of their old socket's place).
    CallJoined {
        node: String,
        room: String,
        user: User,
    },
    /// A user left a room's call on `node`.
    CallLeft {
        node: String,
        room: String,
        user: User,
    },
    /// A `call.signal` frame for the participant `to` of the room's call, wherever their
    /// socket is.
    CallSignal {
        node: String,
        room: String,
        to: String,
        frame: String,
    },
    /// A user changed their profile on `node` (their display name): the sockets of theirs on
    /// other nodes speak as the new one.
    Profile {
        node: String,
        user: User,
    },
}

impl PresenceMessage {
    pub(super) fn node(&self) -> &str {
        match self {
            PresenceMessage::Heartbeat { node, .. }
            | PresenceMessage::Beat { node, .. }
            | PresenceMessage::Resend { node, .. }
            | PresenceMessage::Online { node, .. }
            | PresenceMessage::Offline { node, .. }
            | PresenceMessage::Typing { node, .. }
            | PresenceMessage::Bye { node }
            | PresenceMessage::Revoke { node, .. }
            | PresenceMessage::ToUsers { node, .. }
            | PresenceMessage::CallJoined { node, .. }
            | PresenceMessage::CallLeft { node, .. }
            | PresenceMessage::CallSignal { node, .. }
            | PresenceMessage::Profile { node, .. } => node,
        }
    }
}

/// The letters of an event's effects on the wire between nodes, right after its seq.
const MEMBERS_CHANGED: char = 'm';
const ENDS_ROOM: char = 'e';
const ERASES: char = 'x';
/// After the letters, `@` and a reason letter and a user id: whose subscriptions the event ends.
const REMOVES: char = '@';
const KICKED: char = 'k';
const BANNED: char = 'b';
const LEFT: char = 'l';

/// `{seq}{effects}:{frame}`: the effects as letters after the seq (`7e:…` for a
/// `room.deleted`; `9m@kUSER:…` for a `member.kicked` of the user with id `USER`), none for
/// most events, which so keep the plain `{seq}:{frame}` an older node reads. An older node
/// refuses the seq of the few with effects and catches them up from the store, as it does any
/// event the bus lost; a node reading the plain form takes it as no effects.
pub(super) fn encode_event(event: &EncodedEvent) -> String {
    let letter = |on: bool, letter: char| if on { Some(letter) } else { None };
    let Effects {
        members_changed,
        ends_room,
        erases,
        removes,
    } = &event.effects;
    let mut effects: String = [
        letter(*members_changed, MEMBERS_CHANGED),
        letter(*ends_room, ENDS_ROOM),
        letter(*erases, ERASES),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Ids are made by the store (hex); one that could break the envelope is not carried (the
    // other node then ends nothing, as an older node would not).
    if let Some(removal) = removes
        .as_ref()
        .filter(|r| !r.user_id.is_empty() && !r.user_id.contains([':', REMOVES]))
    {
        let reason = match removal.reason {
            RemovedReason::Banned => Some(BANNED),
            RemovedReason::Kicked => Some(KICKED),
            RemovedReason::Left => Some(LEFT),
            RemovedReason::Deleted => None,
        };
        if let Some(reason) = reason {
            effects.push(REMOVES);
            effects.push(reason);
            effects.push_str(&removal.user_id);
        }
    }
    format!("{}{effects}:{}", event.seq, event.frame.as_str())
}

pub(super) fn decode_event(room_id: &str, payload: &[u8]) -> Option<Arc<EncodedEvent>> {
    let text = std::str::from_utf8(payload).ok()?;
    let (head, frame) = text.split_once(':')?;
    let (head, removal) = match head.split_once(REMOVES) {
        None => (head, None),
        Some((head, removal)) => {
            let mut chars = removal.chars();
            let reason = match chars.next()? {
                KICKED => RemovedReason::Kicked,
                BANNED => RemovedReason::Banned,
                LEFT => RemovedReason::Left,
                _ => return None,
            };
            let user_id = chars.as_str();
            if user_id.is_empty() {
                return None;
            }
            (
                head,
                Some(Removal {
                    user_id: user_id.to_string(),
                    reason,
                }),
            )
        }
    };
    let digits = head
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(head.len());
    let (seq, effects) = head.split_at(digits);
    if !effects
        .chars()
        .all(|c| c == MEMBERS_CHANGED || c == ENDS_ROOM || c == ERASES)
    {
        return None;
    }
    let effects = Effects {
        members_changed: effects.contains(MEMBERS_CHANGED),
        ends_room: effects.contains(ENDS_ROOM),
        erases: effects.contains(ERASES),
        removes: removal,
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
                ..Effects::default()
            },
            Effects {
                ends_room: true,
                ..Effects::default()
            },
            Effects {
                erases: true,
                ..Effects::default()
            },
            Effects {
                members_changed: true,
                removes: Some(Removal {
                    user_id: "0193abcdef".into(),
                    reason: RemovedReason::Banned,
                }),
                ..Effects::default()
            },
            Effects {
                members_changed: true,
                removes: Some(Removal {
                    user_id: "u1".into(),
                    reason: RemovedReason::Kicked,
                }),
                ..Effects::default()
            },
        ] {
            let event = EncodedEvent::from_frame(
                Arc::from("r"),
                7,
                Utf8Bytes::from(frame),
                effects.clone(),
            );
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
    fn an_event_without_effects_keeps_the_plain_form_and_unknown_letters_are_refused() {
        let frame = r#"{"type":"event","event":{"seq":3}}"#;
        let event = EncodedEvent::from_frame(
            Arc::from("r"),
            3,
            Utf8Bytes::from(frame),
            Effects::default(),
        );
        assert_eq!(encode_event(&event), format!("3:{frame}"));
        let decoded = decode_event("r", format!("3:{frame}").as_bytes()).unwrap();
        assert_eq!(decoded.effects, Effects::default());
        assert!(decode_event("r", br#"7z:{"type":"event"}"#).is_none());
        assert!(decode_event("r", br#"e:{"type":"event"}"#).is_none());
        assert!(decode_event("r", br#"7m@x1:{"type":"event"}"#).is_none());
        assert!(decode_event("r", br#"7m@k:{"type":"event"}"#).is_none());
    }
}
