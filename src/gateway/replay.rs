//! The replay of a subscribe: what a client that has seen a room up to `after` is sent before the
//! room goes live for it at `last_seq` (the seq the hub's live delivery starts after). That is
//! the events it missed, read from the store, then `subscribed`; or, past [`REPLAY_MAX`]
//! missing events, only `resync` (the client then reloads the room over REST).
//!
//! The writer sends the replay and then the live events it held meanwhile (see `writer.rs`).

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::Admission;
use crate::error::Error;
use crate::hub::{EncodedEvent, Replay};
use crate::protocol::ServerFrame;
use crate::state::AppState;

/// Most missing events replayed on subscribe; beyond it the client gets `resync`.
pub const REPLAY_MAX: u64 = 1000;

/// The replay for a subscription to `room` (`admission` the gate's yes) that saw up to `after`
/// and goes live after `last_seq`, ending with its `subscribed` answer (unless it is too far
/// behind: then `resync`).
pub(super) async fn replay(
    state: &AppState,
    admission: &Admission,
    room: Arc<str>,
    after: Option<u64>,
    last_seq: u64,
    subscribed: String,
) -> Result<Replay, Error> {
    let (events, tail) = match after {
        Some(after) if after < last_seq && last_seq - after > REPLAY_MAX => (
            Vec::new(),
            ServerFrame::Resync {
                room_id: room.to_string(),
                last_seq,
            }
            .encode(),
        ),
        Some(after) if after < last_seq => (
            missed_events(state, admission, after, last_seq).await?,
            subscribed,
        ),
        _ => (Vec::new(), subscribed),
    };
    Ok(Replay {
        room_id: room,
        events,
        tail: Utf8Bytes::from(tail),
        last_seq: live_after(after, last_seq),
    })
}

/// The seq after which the subscription's live events go out: after what this node delivered
/// before it (`last_seq`), and never what the client has seen already. A client that saw the
/// room up to `after` on another node may come to this one while it is still behind (a node
/// died; this one had not delivered the last events yet): those events must not reach it twice.
fn live_after(after: Option<u64>, last_seq: u64) -> u64 {
    after.map_or(last_seq, |after| after.max(last_seq))
}

/// The room's events after `after` up to `last_seq`, encoded as frames: the one place a socket
/// reads a room's event log, with the gate's yes to its subscription.
async fn missed_events(
    state: &AppState,
    admission: &Admission,
    after: u64,
    last_seq: u64,
) -> Result<Vec<Arc<EncodedEvent>>, Error> {
    let events = state.chat.replay(admission, after, last_seq).await?;
    Ok(events.to_vec())
}

#[cfg(test)]
mod tests {
    use super::live_after;

    #[test]
    fn live_events_start_after_what_the_client_has_seen() {
        assert_eq!(live_after(None, 92), 92);
        assert_eq!(live_after(Some(80), 92), 92, "the replay brings 81..=92");
        assert_eq!(
            live_after(Some(93), 92),
            93,
            "this node is behind the client: 93 arrives live and must not go out again"
        );
    }
}
