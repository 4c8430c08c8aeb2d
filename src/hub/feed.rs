//! A polled room's feed (see [`super::watch`]): its latest events as they were fanned out (the
//! same encoded frames the sockets got), the typing notices of the last few seconds, and a
//! change counter the waiting polls watch; and a poller's presence lease.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::bus::EncodedEvent;
use crate::protocol::{RemovedReason, User};

/// Events a feed keeps: a poll further behind reads the store.
pub(super) const RECENT_MAX: usize = 256;

/// How long a typing notice counts (a typing client sends one every 2–3 s while typing).
pub const TYPING_TTL: Duration = Duration::from_secs(6);

/// What an event frame looks like around the event itself (see [`EncodedEvent::new`]).
const FRAME_HEAD: &str = r#"{"type":"event","event":"#;

/// The event inside an event frame, or `None` for a frame of another shape.
pub fn event_json(frame: &str) -> Option<&str> {
    frame.strip_prefix(FRAME_HEAD)?.strip_suffix('}')
}

/// A room's recent events, typing notices and changes, for its long-polls (see the module doc).
pub struct Feed {
    state: Mutex<FeedState>,
    /// Bumped by every change a poll may answer: an event, a presence change, a typing notice.
    changes: watch::Sender<u64>,
}

#[derive(Default)]
struct FeedState {
    /// The seq before the first event kept: `recent` holds `base + 1 ..= base + len`. `None`
    /// until the room's last seq is known here.
    base: Option<u64>,
    recent: VecDeque<Arc<EncodedEvent>>,
    /// Who typed lately, and until when their notice counts.
    typing: Vec<(User, Instant)>,
    /// Typing notices seen: part of the live token, so a waiting poll answers each one.
    typing_notices: u64,
    /// Presence changes seen, and who was online (with their key) as of the last count, so
    /// that polls do not each gather and hash the room's whole online list.
    presence_changes: u64,
    online: Option<Online>,
}

/// Who is online in a room, and the key naming that set (see [`online_key`]).
#[derive(Clone)]
pub struct Online {
    pub key: u64,
    pub users: Arc<Vec<User>>,
}

/// A slice of a feed: the events after a seq (frames as fanned out), the room's last seq here,
/// and whether the slice ends with the reader's removal from the room.
pub struct FeedPage {
    pub frames: Vec<Utf8Bytes>,
    pub last_seq: u64,
    pub removed: Option<RemovedReason>,
}

impl Feed {
    pub(super) fn new(last: Option<u64>) -> Arc<Self> {
        Arc::new(Feed {
            state: Mutex::new(FeedState {
                base: last,
                ..FeedState::default()
            }),
            changes: watch::channel(0).0,
        })
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The room's last seq became known here (its first watcher read it from the store).
    pub(super) fn known(&self, last: u64) {
        let mut state = self.state.lock().unwrap();
        if state.base.is_none() {
            state.base = Some(last);
            drop(state);
            self.bump();
        }
    }

    /// The room's next event, in order. An event that erased earlier ones in the store (a
    /// delete, a clear) drops the copies kept here: a poll behind it reads the store.
    pub(super) fn push(&self, item: &Arc<EncodedEvent>) {
        let mut state = self.state.lock().unwrap();
        let last = state.base.map(|base| base + state.recent.len() as u64);
        if item.effects.erases || last != Some(item.seq.wrapping_sub(1)) {
            state.recent.clear();
            state.base = Some(item.seq.saturating_sub(1));
        }
        state.recent.push_back(item.clone());
        if state.recent.len() > RECENT_MAX {
            state.recent.pop_front();
            state.base = state.base.map(|b| b + 1);
        }
        drop(state);
        self.bump();
    }

    /// A typing notice in the room (from this node or another).
    pub(super) fn typed(&self, user: &User) {
        let until = Instant::now() + TYPING_TTL;
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        state.typing.retain(|(u, t)| u.id != user.id && *t > now);
        state.typing.push((user.clone(), until));
        state.typing_notices = state.typing_notices.wrapping_add(1);
        drop(state);
        self.bump();
    }

    /// Presence in the room changed.
    pub(super) fn touch(&self) {
        let mut state = self.state.lock().unwrap();
        state.presence_changes = state.presence_changes.wrapping_add(1);
        state.online = None;
        drop(state);
        self.bump();
    }

    /// Who is online, as kept since the last presence change, or else as `load` gathers it
    /// (called without the feed's lock: it takes the room table's, which is taken before this
    /// lock elsewhere).
    pub fn online(&self, load: impl FnOnce() -> Vec<User>) -> Online {
        let changes = {
            let state = self.state.lock().unwrap();
            if let Some(online) = &state.online {
                return online.clone();
            }
            state.presence_changes
        };
        let users = load();
        let online = Online {
            key: online_key(&users),
            users: Arc::new(users),
        };
        let mut state = self.state.lock().unwrap();
        // Kept only if nothing changed meanwhile: else the next poll gathers it again.
        if state.presence_changes == changes {
            state.online = Some(online.clone());
        }
        online
    }

    /// A receiver of the change counter: subscribe before reading, so nothing is missed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The events after `after` (at most `limit`), cut after the event that removes `reader`
    /// from the room or ends it; `None` when they are not all here (older than the feed, or the
    /// room's last seq not known yet), or a frame is not of the usual shape.
    pub fn page(&self, after: u64, limit: usize, reader: &str) -> Option<FeedPage> {
        let state = self.state.lock().unwrap();
        let base = state.base?;
        let last_seq = base + state.recent.len() as u64;
        if after < base {
            return None;
        }
        let skip = (after - base).min(state.recent.len() as u64) as usize;
        let mut frames = Vec::new();
        let mut removed = None;
        for event in state.recent.iter().skip(skip).take(limit) {
            event_json(event.frame.as_str())?;
            frames.push(event.frame.clone());
            if let Some(r) = &event.effects.removes {
                if r.user_id == reader {
                    removed = Some(r.reason);
                    break;
                }
            }
            if event.effects.ends_room {
                break;
            }
        }
        Some(FeedPage {
            frames,
            last_seq,
            removed,
        })
    }

    /// Who is typing now (not `reader`), the notices seen, and when the first of them lapses.
    pub fn typing(&self, reader: &str) -> (Vec<User>, u64, Option<Instant>) {
        let now = Instant::now();
        let state = self.state.lock().unwrap();
        let live = state
            .typing
            .iter()
            .filter(|(u, until)| *until > now && u.id != reader);
        let users = live.clone().map(|(u, _)| u.clone()).collect();
        let next = live.map(|(_, until)| *until).min();
        (users, state.typing_notices, next)
    }
}

/// A poller's presence in a room: the polls of theirs open here, and when it lapses after the
/// last one ended.
pub(super) struct Lease {
    pub(super) polls: usize,
    pub(super) until: Instant,
}

/// A key naming a set of users (the same on every node of a cluster: `DefaultHasher::new` has
/// fixed keys).
pub fn online_key(online: &[User]) -> u64 {
    let mut ids: Vec<&str> = online.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    let mut hasher = DefaultHasher::new();
    ids.hash(&mut hasher);
    hasher.finish()
}

/// A token naming a room's online and typing state as a reader sees it: 16 hex digits of the
/// online set's key, then 16 of the typing notices'. Equal tokens: nothing new to tell them;
/// equal first halves: the online list they have is still right.
pub fn live_token(online_key: u64, typing: &[User], typing_notices: u64) -> String {
    let mut typers: Vec<&str> = typing.iter().map(|u| u.id.as_str()).collect();
    typers.sort_unstable();
    let mut hasher = DefaultHasher::new();
    typers.hash(&mut hasher);
    typing_notices.hash(&mut hasher);
    format!("{online_key:016x}{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Effects, Removal};

    fn event(seq: u64, effects: Effects) -> Arc<EncodedEvent> {
        EncodedEvent::from_frame(
            Arc::from("r"),
            seq,
            Utf8Bytes::from(format!(r#"{{"type":"event","event":{{"seq":{seq}}}}}"#)),
            effects,
        )
    }

    fn seqs(page: &FeedPage) -> Vec<&str> {
        page.frames
            .iter()
            .map(|f| event_json(f.as_str()).unwrap())
            .collect()
    }

    /// A feed answers the events after a seq it holds, as their JSON, and refuses what it does
    /// not hold (older than its first, or before the room's last seq is known).
    #[test]
    fn a_feed_answers_what_it_holds_and_only_that() {
        let feed = Feed::new(None);
        assert!(feed.page(0, 10, "me").is_none(), "last seq not known yet");
        feed.known(4);
        for seq in 5..=7 {
            feed.push(&event(seq, Effects::default()));
        }
        let page = feed.page(5, 10, "me").unwrap();
        assert_eq!(seqs(&page), [r#"{"seq":6}"#, r#"{"seq":7}"#]);
        assert_eq!(page.last_seq, 7);
        assert_eq!(feed.page(4, 1, "me").unwrap().frames.len(), 1);
        assert!(feed.page(7, 10, "me").unwrap().frames.is_empty());
        assert!(
            feed.page(3, 10, "me").is_none(),
            "seq 4 is only in the store"
        );
        for seq in 8..8 + RECENT_MAX as u64 {
            feed.push(&event(seq, Effects::default()));
        }
        assert!(feed.page(6, 10, "me").is_none(), "the oldest were let go");
        assert!(feed.page(7, 10, "me").is_some());
    }

    /// A delete or a clear rewrote earlier events in the store: the copies here are dropped.
    #[test]
    fn an_erasing_event_drops_the_copies_of_earlier_events() {
        let feed = Feed::new(Some(0));
        feed.push(&event(1, Effects::default()));
        let erases = Effects {
            erases: true,
            ..Effects::default()
        };
        feed.push(&event(2, erases));
        assert!(feed.page(0, 10, "me").is_none());
        assert_eq!(seqs(&feed.page(1, 10, "me").unwrap()), [r#"{"seq":2}"#]);
    }

    /// A page ends with the reader's own removal (nothing after it reaches them), and with the
    /// room's end; someone else's removal is just an event.
    #[test]
    fn a_page_ends_with_the_readers_removal_or_the_rooms_end() {
        let feed = Feed::new(Some(0));
        let kick = |user: &str| Effects {
            removes: Some(Removal {
                user_id: user.into(),
                reason: RemovedReason::Kicked,
            }),
            ..Effects::default()
        };
        feed.push(&event(1, kick("other")));
        feed.push(&event(2, kick("me")));
        feed.push(&event(3, Effects::default()));
        let page = feed.page(0, 10, "me").unwrap();
        assert_eq!(seqs(&page).len(), 2);
        assert_eq!(page.removed, Some(RemovedReason::Kicked));
        assert_eq!(feed.page(0, 10, "other").unwrap().frames.len(), 1);
        let ended = Feed::new(Some(0));
        ended.push(&event(
            1,
            Effects {
                ends_room: true,
                ..Effects::default()
            },
        ));
        ended.push(&event(2, Effects::default()));
        assert_eq!(ended.page(0, 10, "me").unwrap().frames.len(), 1);
    }

    /// Every change a poll answers moves the counter; typing lists others only.
    #[test]
    fn changes_and_typing() {
        let feed = Feed::new(Some(0));
        let mut changes = feed.changes();
        let user = |id: &str| User {
            id: id.into(),
            username: id.into(),
            guest: true,
            admin: false,
            display_name: None,
            bot: false,
        };
        feed.typed(&user("a"));
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        feed.typed(&user("me"));
        let (typing, notices, next) = feed.typing("me");
        assert_eq!(
            typing.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(notices, 2);
        assert!(next.is_some());
        feed.touch();
        assert!(changes.has_changed().unwrap());
        let ab = online_key(&[user("a"), user("b")]);
        assert_eq!(ab, online_key(&[user("b"), user("a")]));
        assert_ne!(ab, online_key(&[user("a")]));
        let a = live_token(ab, &[], 1);
        assert_eq!(a.len(), 32);
        assert_ne!(a, live_token(ab, &[], 2));
        assert_eq!(a[..16], live_token(ab, &[user("c")], 2)[..16]);
        // The online list is kept until presence changes.
        let mut loads = 0;
        feed.online(|| {
            loads += 1;
            vec![user("a")]
        });
        feed.online(|| {
            loads += 1;
            vec![user("a")]
        });
        assert_eq!(loads, 1);
        feed.touch();
        let online = feed.online(|| vec![user("a"), user("b")]);
        assert_eq!((online.key, online.users.len()), (ab, 2));
    }
}
