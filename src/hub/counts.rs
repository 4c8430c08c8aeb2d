//! Room-list counts: which rooms' member or online counts changed since the last room-list
//! flush, each once, oldest change first, as many as one flush may announce.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Most `room_list` count frames one flush (one a second) sends over all sockets together.
/// Counts are a decoration: each changed room costs one frame on every open socket, and on a
/// 2-core machine 100,000 frames a second cost about as much CPU as 100,000 message deliveries
/// (in the many-rooms benchmark the room list's catch-up after 5,000 sign-ins doubled what the
/// server wrote). With 2,500, a few dozen sockets still see every room's counts each second;
/// with 1,000 sockets two rooms a second are refreshed, oldest change first. (With 10,000, the
/// decoration frames of 50,000 sockets connecting to 3 nodes took a fifth of the connect phase
/// and 1.3 KiB per socket: see docs/benchmarks.md.)
const ROOM_LIST_FRAMES_PER_FLUSH: usize = 2_500;

/// Rooms whose counts changed and are due for a room-list update.
#[derive(Default)]
pub(super) struct Counts {
    dirty: Mutex<DirtyRooms>,
}

impl Counts {
    pub(super) fn mark(&self, room_id: Arc<str>) {
        self.dirty.lock().unwrap().mark(room_id);
    }

    /// Rooms whose counts changed, oldest change first, as many as one flush may announce:
    /// each goes to every one of `sockets`, so with many sockets fewer rooms fit in a flush,
    /// and the rest wait for the next, still coalesced. Past [`ROOM_LIST_FRAMES_PER_FLUSH`]
    /// sockets not even one room fits: the frames a flush may send are saved up over flushes
    /// until one room's worth is there (with 6,250 sockets, two rooms every five flushes).
    pub(super) fn take(&self, sockets: usize) -> Vec<Arc<str>> {
        self.dirty.lock().unwrap().take_within(sockets.max(1))
    }
}

/// Rooms marked for a later update, each once, in the order first marked.
#[derive(Default)]
struct DirtyRooms {
    order: VecDeque<Arc<str>>,
    marked: HashSet<Arc<str>>,
    /// Frames saved up for the next flushes (see [`Counts::take`]): never more than one
    /// flush's, or one room's when that is more.
    saved: usize,
}

impl DirtyRooms {
    fn mark(&mut self, room_id: Arc<str>) {
        if self.marked.insert(room_id.clone()) {
            self.order.push_back(room_id);
        }
    }

    /// One flush's rooms, each to be sent to `sockets` sockets.
    fn take_within(&mut self, sockets: usize) -> Vec<Arc<str>> {
        self.saved =
            (self.saved + ROOM_LIST_FRAMES_PER_FLUSH).min(ROOM_LIST_FRAMES_PER_FLUSH.max(sockets));
        let taken = self.take(self.saved / sockets);
        self.saved -= taken.len() * sockets;
        taken
    }

    fn take(&mut self, limit: usize) -> Vec<Arc<str>> {
        let n = limit.min(self.order.len());
        let taken: Vec<Arc<str>> = self.order.drain(..n).collect();
        for room_id in &taken {
            self.marked.remove(room_id);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_rooms_come_out_once_each_oldest_first_within_the_limit() {
        let mut dirty = DirtyRooms::default();
        for room in ["a", "b", "a", "c", "b"] {
            dirty.mark(Arc::from(room));
        }
        let names = |rooms: Vec<Arc<str>>| rooms.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(names(dirty.take(2)), ["a", "b"]);
        dirty.mark(Arc::from("a"));
        assert_eq!(names(dirty.take(10)), ["c", "a"]);
        assert!(dirty.take(10).is_empty());
    }

    #[test]
    fn past_the_budget_a_room_goes_out_every_few_flushes() {
        let rooms = |dirty: &mut DirtyRooms| {
            for room in ["a", "b", "c", "d"] {
                dirty.mark(Arc::from(room));
            }
        };
        let per_flush = |dirty: &mut DirtyRooms, sockets| {
            (0..6)
                .map(|_| dirty.take_within(sockets).len())
                .collect::<Vec<_>>()
        };
        // Half the budget's sockets: two rooms a flush.
        let mut dirty = DirtyRooms::default();
        rooms(&mut dirty);
        assert_eq!(
            per_flush(&mut dirty, ROOM_LIST_FRAMES_PER_FLUSH / 2),
            [2, 2, 0, 0, 0, 0]
        );
        // Two and a half budgets' sockets: a room every third flush (two and a half flushes'
        // frames each), the first as soon as a quiet node has saved them up.
        let sockets = ROOM_LIST_FRAMES_PER_FLUSH * 5 / 2;
        let mut dirty = DirtyRooms::default();
        rooms(&mut dirty);
        assert_eq!(per_flush(&mut dirty, sockets), [0, 0, 1, 0, 0, 1]);
        let mut quiet = DirtyRooms::default();
        per_flush(&mut quiet, sockets);
        rooms(&mut quiet);
        assert_eq!(per_flush(&mut quiet, sockets), [1, 0, 0, 1, 0, 0]);
    }
}
