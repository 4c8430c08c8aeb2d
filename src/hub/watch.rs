//! Long-poll watches: a long-polling client (`GET …/events?wait=`) watches a room without
//! being a subscriber: it sees the room's last delivered `seq` change.

use std::sync::Arc;

use tokio::sync::watch;

use super::ordering::Rooms;
use crate::error::Result;

/// A receiver of the room's last delivered seq. Call [`unwatch_seq`] when done.
pub(super) async fn watch_seq(rooms: &Rooms, room_id: &Arc<str>) -> Result<watch::Receiver<u64>> {
    let (receiver, known) = {
        let mut table = rooms.lock();
        let entry = table.entry(room_id.clone()).or_default();
        let last = entry.last();
        let room = &mut entry.room;
        room.pollers += 1;
        let sender = room
            .seq_watch
            .get_or_insert_with(|| watch::channel(last.unwrap_or(0)).0);
        (sender.subscribe(), last)
    };
    if known.is_none() {
        if let Err(err) = rooms.initialize(room_id).await {
            unwatch_seq(rooms, room_id);
            return Err(err);
        }
    }
    Ok(receiver)
}

/// One long-poller of the room is done.
pub(super) fn unwatch_seq(rooms: &Rooms, room_id: &Arc<str>) {
    rooms.release(room_id, |room| {
        room.pollers = room.pollers.saturating_sub(1);
        Some(())
    });
}
