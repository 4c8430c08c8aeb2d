//! Names that deceive: a new room name or username is refused when it looks like one that
//! exists (`Gеneral` with a Cyrillic е beside `General`, `aIice` with a capital i beside
//! `alice`), and guests may not take the names of the staff (`admin`, `root`, `system`, …).
//!
//! "Looks like" is Unicode's confusable skeleton (UTS 39, from the `unicode-security` crate) of
//! the name as shown: two names collide when their skeletons are equal, or when they are equal
//! ignoring case (names are unique ignoring case anyway). Room names are compared with the live
//! rooms' (few); usernames with a set of keys each [`super::Chat`] keeps ([`Usernames`]),
//! brought up to date on each sign-up with only the users created since.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::protocol::RoomKind;
use crate::store::Store;

/// Names a guest can't take (nor anything that looks like one of them).
pub const RESERVED_FOR_STAFF: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "system",
    "palaver",
    "moderator",
    "mod",
    "staff",
    "support",
    "official",
    "security",
    "server",
    "everyone",
    "here",
];

/// What two names that look alike share (`aIice` and `alice` both become `alice`).
pub fn skeleton(name: &str) -> String {
    unicode_security::skeleton(name).collect()
}

/// A name, ready to be compared with many others.
struct Wanted {
    lower: String,
    skeleton: String,
}

impl Wanted {
    fn new(name: &str) -> Self {
        Wanted {
            lower: name.to_lowercase(),
            skeleton: skeleton(name),
        }
    }

    fn looks_like(&self, other: &str) -> bool {
        other.to_lowercase() == self.lower || skeleton(other) == self.skeleton
    }

    /// [`Self::looks_like`] of a name made ready once.
    fn looks_like_wanted(&self, other: &Wanted) -> bool {
        other.lower == self.lower || other.skeleton == self.skeleton
    }
}

/// The names reserved for staff, ready to compare: their skeletons are made once, not on every
/// guest sign-in (they were 4 % of the nodes' time while 50,000 guests signed in).
static RESERVED: std::sync::LazyLock<Vec<Wanted>> =
    std::sync::LazyLock::new(|| RESERVED_FOR_STAFF.iter().map(|r| Wanted::new(r)).collect());

/// Whether a name (or its lower case) looks like a name reserved for staff.
fn reserved(wanted: &Wanted, lower: &Wanted) -> bool {
    RESERVED
        .iter()
        .any(|r| wanted.looks_like_wanted(r) || lower.looks_like_wanted(r))
}

/// Whether two names look alike (or are the same ignoring case).
pub fn confusable(a: &str, b: &str) -> bool {
    Wanted::new(a).looks_like(b)
}

/// `room_name_taken` when another live public room's name looks like `name`. `renaming` is the
/// room being renamed (it may keep looking like itself). Private rooms and DMs take no part:
/// their names must not tell a stranger they exist (a private room's name is free to reuse).
pub async fn room_name_free(store: &dyn Store, name: &str, renaming: Option<&str>) -> Result<()> {
    let wanted = Wanted::new(name);
    let taken = store.list_rooms().await?.iter().any(|room| {
        room.kind == RoomKind::Public
            && Some(room.id.as_str()) != renaming
            && wanted.looks_like(&room.name)
    });
    if taken {
        return Err(Error::RoomNameTaken);
    }
    Ok(())
}

/// How far behind the newest id it has read a look back reaches: a user another node created
/// (or whose insert committed late) with an older id is still found, as long as that node's
/// clock is not further behind than this.
const LOOK_BACK: Duration = Duration::from_secs(30);

/// How often a refresh looks back over [`LOOK_BACK`] instead of reading only newer ids.
const LOOK_BACK_EVERY: Duration = Duration::from_secs(10);

/// The keys of every username this store has, read incrementally: a sign-up reads only the
/// users created since the last one looked (ids are UUIDv7, so they sort by creation time),
/// then compares two set lookups. One per [`super::Chat`], that is one per store a process uses;
/// nodes sharing PostgreSQL each read the others' new users from the store.
#[derive(Default)]
pub struct Usernames {
    known: tokio::sync::Mutex<Known>,
    /// When a taken name last made the set be read again (see [`Usernames::may_reload`]).
    reloaded: std::sync::Mutex<Option<Instant>>,
}

/// Least time between two reloads that a taken name asks for: names freed elsewhere (an account
/// deleted, a guest expired on another node) are found within this, and a stream of sign-ups
/// with taken names can't make every one read every user.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Known {
    lower: HashSet<String>,
    skeletons: HashSet<String>,
    /// The greatest UUIDv7 id read so far; `""` before the first read (which reads every user).
    cursor: String,
    /// When a refresh last looked back over [`LOOK_BACK`].
    looked_back: Option<Instant>,
    /// When the last read of the store began: a check that arrived before it needs no read
    /// of its own (that read saw everything committed before the check arrived).
    read_started: Option<Instant>,
}

/// The lowest id of the UUIDv7 millisecond `LOOK_BACK` before `id`'s (`id` in the store's
/// simple form, 32 hex digits; anything else: `""`, every user).
fn look_back_from(id: &str) -> String {
    let Some(ms) = id
        .get(..12)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
    else {
        return String::new();
    };
    let ms = ms.saturating_sub(LOOK_BACK.as_millis() as u64);
    format!("{ms:012x}{}", "0".repeat(20))
}

/// Whether an id is a UUIDv7 in the store's simple form (only those move the cursor).
fn is_v7(id: &str) -> bool {
    id.len() == 32 && id.as_bytes()[12] == b'7' && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Usernames {
    /// Forgets every name read: the next check reads them all again (names were freed).
    pub async fn forget_all(&self) {
        *self.known.lock().await = Known::default();
    }

    /// Whether a check that found its name taken may read every name again, in case the name
    /// was freed since it was read; at most once every [`RELOAD_EVERY`].
    pub fn may_reload(&self, now: Instant) -> bool {
        let mut reloaded = self.reloaded.lock().unwrap();
        if reloaded.is_some_and(|at| now.duration_since(at) < RELOAD_EVERY) {
            return false;
        }
        *reloaded = Some(now);
        true
    }

    /// `username_taken` when an existing username looks like `username`; for a guest also when
    /// it looks like a reserved name.
    pub async fn free(&self, store: &dyn Store, username: &str, guest: bool) -> Result<()> {
        let wanted = Wanted::new(username);
        let lower = Wanted::new(&wanted.lower);
        if guest && reserved(&wanted, &lower) {
            return Err(Error::InvalidUsername(
                "that name is reserved; pick another",
            ));
        }
        // Held across the read, so concurrent sign-ups share reads: a check waits for the read
        // in progress, and if another read began after it arrived, that read has already seen
        // every name committed before it came, so it reads nothing itself. A burst of sign-ups
        // costs two reads, not one each (one each held a node to a few hundred sign-ins a
        // second on PostgreSQL).
        let arrived = Instant::now();
        let mut known = self.known.lock().await;
        let fresh = !known.cursor.is_empty() && known.read_started.is_some_and(|at| at >= arrived);
        if !fresh {
            let now = Instant::now();
            let look_back = known.cursor.is_empty()
                || known
                    .looked_back
                    .is_none_or(|at| now.duration_since(at) >= LOOK_BACK_EVERY);
            let after = if look_back {
                known.looked_back = Some(now);
                look_back_from(&known.cursor)
            } else {
                known.cursor.clone()
            };
            for (id, name) in store.usernames_after(&after).await? {
                // A look back reads again the rows it has read (up to the cursor): their
                // skeletons, the costly part, are not made again.
                let lower = name.to_lowercase();
                let read_before = id <= known.cursor && known.lower.contains(&lower);
                if !read_before {
                    known.skeletons.insert(skeleton(&name));
                    known.lower.insert(lower);
                }
                if is_v7(&id) && id > known.cursor {
                    known.cursor = id;
                }
            }
            // Only a read that succeeded spares the checks waiting behind it.
            known.read_started = Some(now);
        }
        if known.lower.contains(&wanted.lower) || known.skeletons.contains(&wanted.skeleton) {
            return Err(Error::UsernameTaken);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_a_key() {
        assert!(confusable("General", "G\u{435}neral"), "Cyrillic e");
        assert!(confusable("alice", "aIice"), "capital i");
        assert!(confusable("Alice", "AIice"));
        assert!(confusable("alice", "ALICE"), "case");
        assert!(confusable("Caf\u{e9}", "Cafe\u{301}"), "NFC and NFD");
        assert!(confusable("paypal", "paypa1"));
        assert!(!confusable("alice", "alicia"));
        assert!(!confusable("General", "Random"));
    }

    #[test]
    fn the_look_back_starts_thirty_seconds_before_the_newest_id() {
        let id = format!("{:012x}7abc{}", 100_000u64, "0".repeat(16));
        assert!(is_v7(&id));
        assert_eq!(
            look_back_from(&id),
            format!("{:012x}{}", 70_000u64, "0".repeat(20))
        );
        assert_eq!(look_back_from(""), "");
        assert!(!is_v7("not-an-id"));
    }

    #[test]
    fn reserved_names_cover_their_look_alikes() {
        let reserved = |name: &str| {
            let lower = name.to_lowercase();
            let slow = RESERVED_FOR_STAFF
                .iter()
                .any(|r| confusable(name, r) || confusable(&lower, r));
            let fast = super::reserved(&Wanted::new(name), &Wanted::new(&lower));
            assert_eq!(
                fast, slow,
                "{name}: the ready-made check agrees with the plain one"
            );
            fast
        };
        assert!(reserved("admin") && reserved("ADMIN") && reserved("adrnin"));
        assert!(reserved("Moderator") && reserved("SYSTEM"));
        assert!(!reserved("adminer") && !reserved("alice"));
    }
}
