//! Names that deceive: a new room name or username is refused when it looks like one that
//! exists (`Gеneral` with a Cyrillic е beside `General`, `aIice` with a capital i beside
//! `alice`), and guests may not take the names of the staff (`admin`, `root`, `system`, …).
//!
//! "Looks like" is Unicode's confusable skeleton (UTS 39, from the `unicode-security` crate) of
//! the name as shown: two names collide when their skeletons are equal, or when they are equal
//! ignoring case (names are unique ignoring case anyway).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
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
}

/// Whether two names look alike (or are the same ignoring case).
pub fn confusable(a: &str, b: &str) -> bool {
    Wanted::new(a).looks_like(b)
}

/// `room_name_taken` when another live room's name looks like `name`. `renaming` is the room
/// being renamed (it may keep looking like itself).
pub async fn room_name_free(store: &dyn Store, name: &str, renaming: Option<&str>) -> Result<()> {
    let wanted = Wanted::new(name);
    let taken = store
        .list_rooms()
        .await?
        .iter()
        .any(|room| Some(room.id.as_str()) != renaming && wanted.looks_like(&room.name));
    if taken {
        return Err(Error::RoomNameTaken);
    }
    Ok(())
}

/// `username_taken` when an existing username looks like `username`; for a guest also when it
/// looks like a reserved name.
pub async fn username_free(store: &dyn Store, username: &str, guest: bool) -> Result<()> {
    let wanted = Wanted::new(username);
    let lower = Wanted::new(&wanted.lower);
    if guest
        && RESERVED_FOR_STAFF
            .iter()
            .any(|r| wanted.looks_like(r) || lower.looks_like(r))
    {
        return Err(Error::InvalidUsername(
            "that name is reserved; pick another",
        ));
    }
    let names = store.usernames().await?;
    // Every sign-up compares against every username: their keys are computed once per process.
    static KEYS: OnceLock<Mutex<HashMap<String, (String, String)>>> = OnceLock::new();
    let mut keys = KEYS.get_or_init(Default::default).lock().unwrap();
    let taken = names.into_iter().any(|existing| {
        let (lower, skeleton) = keys
            .entry(existing)
            .or_insert_with_key(|name| (name.to_lowercase(), skeleton(name)));
        *lower == wanted.lower || *skeleton == wanted.skeleton
    });
    drop(keys);
    if taken {
        return Err(Error::UsernameTaken);
    }
    Ok(())
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
    fn reserved_names_cover_their_look_alikes() {
        let reserved = |name: &str| {
            let lower = name.to_lowercase();
            RESERVED_FOR_STAFF
                .iter()
                .any(|r| confusable(name, r) || confusable(&lower, r))
        };
        assert!(reserved("admin") && reserved("ADMIN") && reserved("adrnin"));
        assert!(reserved("Moderator") && reserved("SYSTEM"));
        assert!(!reserved("adminer") && !reserved("alice"));
    }
}
