//! One conformance suite for every `Store` backend. Each test is a function taking a fresh
//! store; `backend_suite!` runs every one of them against a backend.
//!
//! (Over 500 lines: one conformance suite run against both stores.)

use std::sync::Arc;

use palaver::error::Error;
use palaver::protocol::{EventKind, Rearrange, User};
use palaver::store::postgres::PostgresStore;
use palaver::store::sqlite::SqliteStore;
use palaver::store::{RoomPatch, SendOutcome, SendRequest, Store};

use crate::pgdb;

async fn user(store: &dyn Store, name: &str) -> User {
    store.create_user(name, None, true).await.unwrap()
}

async fn send(
    store: &dyn Store,
    room: &str,
    author: &User,
    client_id: &str,
    body: &str,
) -> palaver::protocol::Message {
    match store
        .send_message(room, author, client_id, body)
        .await
        .unwrap()
    {
        SendOutcome::Created { message, .. } => message,
        SendOutcome::Existing(message) => message,
    }
}

pub async fn users_are_unique_ignoring_case(store: Arc<dyn Store>) {
    store
        .create_user("Alice", Some("hash"), false)
        .await
        .unwrap();
    assert!(matches!(
        store.create_user("alice", None, true).await,
        Err(Error::UsernameTaken)
    ));
    let found = store.find_user_by_name("ALICE").await.unwrap().unwrap();
    assert_eq!(found.user.username, "Alice");
    assert_eq!(found.password_hash.as_deref(), Some("hash"));
    assert!(store.find_user_by_name("bob").await.unwrap().is_none());
}

pub async fn sessions_resolve_until_deleted(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    store.create_session("h1", &alice.id).await.unwrap();
    assert_eq!(store.session_user("h1").await.unwrap(), Some(alice));
    store.delete_session("h1").await.unwrap();
    assert_eq!(store.session_user("h1").await.unwrap(), None);
}

/// Sessions expire (issue 7, item 5): an expired one resolves to nobody and is swept; one with a
/// future expiry resolves with it; one without (the old interface) never expires.
pub async fn sessions_expire_and_are_swept(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let now = chrono::Utc::now();
    let past = palaver::store::timestamp(now - chrono::Duration::seconds(1));
    let future = palaver::store::timestamp(now + chrono::Duration::hours(1));
    store
        .create_session_until("old", &alice.id, &past)
        .await
        .unwrap();
    store
        .create_session_until("new", &alice.id, &future)
        .await
        .unwrap();
    store.create_session("forever", &alice.id).await.unwrap();

    assert_eq!(store.session("old").await.unwrap(), None);
    assert_eq!(store.session_user("old").await.unwrap(), None);
    let live = store.session("new").await.unwrap().unwrap();
    assert_eq!(
        (live.user, live.expires_at),
        (alice.clone(), Some(future.clone()))
    );
    assert_eq!(store.session_user("forever").await.unwrap(), Some(alice));

    assert_eq!(store.delete_expired_sessions().await.unwrap(), 1);
    assert_eq!(store.delete_expired_sessions().await.unwrap(), 0);
    assert!(store.session("new").await.unwrap().is_some());
    assert!(store.session("forever").await.unwrap().is_some());
}

/// Many sessions read at once (a burst of sign-ins, gathered): each live one with its hash;
/// unknown and expired ones left out; a batch bigger than one statement's share read whole.
pub async fn sessions_are_read_many_at_once(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let now = chrono::Utc::now();
    let past = palaver::store::timestamp(now - chrono::Duration::seconds(1));
    let future = palaver::store::timestamp(now + chrono::Duration::hours(1));
    store.create_session("a1", &alice.id).await.unwrap();
    store
        .create_session_until("b1", &bob.id, &future)
        .await
        .unwrap();
    store
        .create_session_until("b-old", &bob.id, &past)
        .await
        .unwrap();
    let mut hashes: Vec<String> = ["a1", "b1", "b-old", "nobody"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    // More than one statement takes (500): the rest are unknown.
    hashes.extend((0..600).map(|n| format!("unknown-{n}")));
    hashes.push("later".into());
    store.create_session("later", &bob.id).await.unwrap();
    let mut found = store.sessions(&hashes).await.unwrap();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let found: Vec<(String, String, Option<String>)> = found
        .into_iter()
        .map(|(hash, s)| (hash, s.user.username, s.expires_at))
        .collect();
    assert_eq!(
        found,
        vec![
            ("a1".to_string(), "alice".to_string(), None),
            ("b1".to_string(), "bob".to_string(), Some(future)),
            ("later".to_string(), "bob".to_string(), None),
        ]
    );
    assert!(store.sessions(&[]).await.unwrap().is_empty());
}

/// A guest and their first session are made together, or not at all: a taken name (any case)
/// leaves no session behind.
pub async fn a_guest_comes_with_a_session_or_not_at_all(store: Arc<dyn Store>) {
    let future = palaver::store::timestamp(chrono::Utc::now() + chrono::Duration::hours(1));
    let guest = store
        .create_guest_with_session("Gina", "g1", &future)
        .await
        .unwrap();
    assert!(guest.guest && guest.username == "Gina");
    let live = store.session("g1").await.unwrap().unwrap();
    assert_eq!((live.user, live.expires_at), (guest, Some(future.clone())));
    assert!(matches!(
        store.create_guest_with_session("gina", "g2", &future).await,
        Err(Error::UsernameTaken)
    ));
    assert_eq!(store.session("g2").await.unwrap(), None);
    let found = store.find_user_by_name("GINA").await.unwrap().unwrap();
    assert_eq!(found.password_hash, None);
}

/// Many guests signed up at once (a crowd signing in, gathered): each gets their own user and
/// session, in order; a name held already, or twice in the call (any case), is taken and the
/// others are written all the same; a call bigger than one statement's share is written whole.
pub async fn guests_sign_up_many_at_once(store: Arc<dyn Store>) {
    use palaver::store::NewGuest;
    let future = palaver::store::timestamp(chrono::Utc::now() + chrono::Duration::hours(1));
    user(&*store, "Held").await;
    let guest = |name: &str, hash: &str| NewGuest {
        username: name.to_string(),
        token_hash: hash.to_string(),
        expires_at: future.clone(),
    };
    let mut guests = vec![
        guest("Ann", "t-ann"),
        guest("held", "t-held"),
        guest("Bo", "t-bo"),
        guest("ANN", "t-ann-again"),
    ];
    // More than one statement takes (500).
    guests.extend((0..600).map(|n| guest(&format!("crowd{n}"), &format!("t-{n}"))));
    let answers = store.create_guests_with_sessions(&guests).await.unwrap();
    assert_eq!(answers.len(), guests.len());
    for (guest, answer) in guests.iter().zip(&answers) {
        let taken = ["held", "ANN"].contains(&guest.username.as_str());
        match answer {
            Err(Error::UsernameTaken) if taken => {
                assert_eq!(store.session(&guest.token_hash).await.unwrap(), None);
            }
            Ok(user) if !taken => {
                assert!(user.guest && user.username == guest.username);
                let live = store.session(&guest.token_hash).await.unwrap().unwrap();
                assert_eq!(live.user, *user, "{} has their own session", guest.username);
                assert_eq!(live.expires_at.as_deref(), Some(future.as_str()));
            }
            other => panic!("{}: {other:?}", guest.username),
        }
    }
    let ann = store.find_user_by_name("ann").await.unwrap().unwrap();
    assert_eq!(
        ann.user.username, "Ann",
        "the first to ask for a name has it"
    );
    assert!(store
        .create_guests_with_sessions(&[])
        .await
        .unwrap()
        .is_empty());
}

/// Many standings read at once (subscribes after a node died, gathered): each pair's answer is
/// the single read's with the membership, whatever else is in the call.
pub async fn standings_are_read_many_at_once(store: Arc<dyn Store>) {
    use palaver::store::moderation::SanctionKind;
    let owner = user(&*store, "owner").await;
    let (banned, muted, member, outsider) = (
        user(&*store, "banned").await,
        user(&*store, "muted").await,
        user(&*store, "member").await,
        user(&*store, "outsider").await,
    );
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    let (other, _) = store.create_room("Other", "", &owner).await.unwrap();
    for person in [&banned, &muted, &member] {
        store.join_room(&room.id, person).await.unwrap();
    }
    store.join_room(&other.id, &outsider).await.unwrap();
    let past = palaver::store::timestamp(chrono::Utc::now() - chrono::Duration::hours(1));
    store
        .sanction(&room.id, SanctionKind::Ban, &banned, &owner, None)
        .await
        .unwrap();
    store
        .sanction(&room.id, SanctionKind::Mute, &muted, &owner, None)
        .await
        .unwrap();
    store
        .sanction(&room.id, SanctionKind::Ban, &member, &owner, Some(&past))
        .await
        .unwrap();
    store.join_room(&room.id, &member).await.unwrap();
    let mut pairs = Vec::new();
    for room_id in [&room.id, &other.id, &"no-such-room".to_string()] {
        for person in [&owner, &banned, &muted, &member, &outsider] {
            pairs.push((room_id.clone(), person.id.clone()));
        }
    }
    pairs.push((room.id.clone(), banned.id.clone()));
    // More than one statement takes (500): the rest are strangers.
    pairs.extend((0..600).map(|n| (other.id.clone(), format!("nobody-{n}"))));
    let standings = store.standings(&pairs).await.unwrap();
    assert_eq!(standings.len(), pairs.len());
    for ((room_id, user_id), standing) in pairs.iter().zip(&standings) {
        let alone = store.standing(room_id, user_id, true).await.unwrap();
        assert_eq!(*standing, alone, "{user_id} in {room_id}");
    }
    let banned_here = standings[1];
    assert!(
        banned_here.banned && banned_here.role.is_none(),
        "a ban ends the membership"
    );
    assert!(standings[2].muted && standings[2].role.is_some());
    assert!(!standings[3].banned, "an expired ban is inert");
    assert!(store.standings(&[]).await.unwrap().is_empty());
}

/// Many ranges of events read at once (replays after a node died, gathered): each range's
/// events in order, as `events_after` reads them; overlapping, empty and unknown ranges too.
pub async fn event_ranges_are_read_many_at_once(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    let (other, _) = store.create_room("Other", "", &owner).await.unwrap();
    for n in 0..6 {
        send(&*store, &room.id, &owner, &format!("r{n}"), "hi").await;
        send(&*store, &other.id, &owner, &format!("o{n}"), "hi").await;
    }
    let last = store.last_seq(&room.id).await.unwrap();
    let mut ranges = vec![
        (room.id.clone(), 0, last),
        (room.id.clone(), 2, 4),
        (other.id.clone(), 3, last),
        (room.id.clone(), 2, 4),
        (room.id.clone(), last, last),
        ("no-such-room".to_string(), 0, 10),
    ];
    // More than one statement takes (500).
    ranges.extend((0..600).map(|n| (other.id.clone(), n % 3, n % 3 + 1)));
    let found = store.events_in(&ranges).await.unwrap();
    assert_eq!(found.len(), ranges.len());
    for ((room_id, after, upto), events) in ranges.iter().zip(&found) {
        let limit = (upto - after) as u32;
        let alone = if limit == 0 {
            Vec::new()
        } else {
            store.events_after(room_id, *after, limit).await.unwrap()
        };
        let seqs = |events: &[palaver::store::StoredEvent]| -> Vec<(String, u64, String)> {
            events
                .iter()
                .map(|e| (e.room_id.clone(), e.seq, e.json.clone()))
                .collect()
        };
        assert_eq!(
            seqs(events),
            seqs(&alone),
            "{room_id} after {after} up to {upto}"
        );
    }
    assert_eq!(found[0].len() as u64, last);
    assert_eq!(found[1].iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(found[4].is_empty() && found[5].is_empty());
    assert!(store.events_in(&[]).await.unwrap().is_empty());
}

pub async fn default_rooms_are_seeded_once(store: Arc<dyn Store>) {
    store
        .seed_default_rooms(&["General", "Random"])
        .await
        .unwrap();
    store
        .seed_default_rooms(&["General", "Random"])
        .await
        .unwrap();
    let names: Vec<String> = store
        .list_rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["General", "Random"]);
}

pub async fn every_change_is_one_event_with_the_next_seq(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let other = user(&*store, "other").await;
    let (room, events) = store.create_room("Room", "", &owner).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    assert!(store.join_room(&room.id, &owner).await.unwrap().is_none());
    let joined = store.join_room(&room.id, &other).await.unwrap().unwrap();
    assert_eq!(joined.seq, 2);
    let SendOutcome::Created { message, events } = store
        .send_message(&room.id, &other, "c1", "hi")
        .await
        .unwrap()
    else {
        panic!("a new message");
    };
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    assert_eq!(message.seq, 3);
    let (_, edited) = store
        .edit_message(&room.id, &message.id, "hi!", &[])
        .await
        .unwrap();
    assert_eq!(edited.seq, 4);
    let (_, moved) = store
        .move_message(&room.id, &message.id, None, &owner)
        .await
        .unwrap();
    assert_eq!(moved.last().unwrap().seq, 5);
    // The event names who moved the message, so the others can be told (#15).
    match moved.last().unwrap().decode().unwrap().kind {
        EventKind::MessageMoved { by: Some(by), .. } => assert_eq!(by.id, owner.id),
        other => panic!("expected message.moved naming the mover, got {other:?}"),
    }
    let deleted = store.delete_message(&room.id, &message.id).await.unwrap();
    assert_eq!(deleted.seq, 6);
    let (_, updated) = store
        .update_room(
            &room.id,
            &RoomPatch {
                rearrange: Some(Rearrange::Nobody),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.seq, 7);
    let cleared = store.clear_room(&room.id, &owner).await.unwrap();
    assert_eq!(cleared.seq, 8);
    let left = store.leave_room(&room.id, &other).await.unwrap().unwrap();
    assert_eq!(left.seq, 9);
    assert!(store.leave_room(&room.id, &other).await.unwrap().is_none());

    let log = store.events_after(&room.id, 0, 100).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    let kinds: Vec<&str> = log
        .iter()
        .map(|e| e.decode().unwrap().kind.name())
        .collect();
    assert_eq!(
        kinds,
        [
            "member.joined",
            "member.joined",
            "message.created",
            "message.edited",
            "message.moved",
            "message.deleted",
            "room.updated",
            "room.cleared",
            "member.left"
        ]
    );
    assert_eq!(store.last_seq(&room.id).await.unwrap(), 9);
    assert_eq!(store.events_after(&room.id, 7, 100).await.unwrap().len(), 2);
    assert_eq!(store.events_after(&room.id, 0, 3).await.unwrap().len(), 3);
}

pub async fn concurrent_sends_get_gap_free_seqs(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Busy", "", &owner).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        let room_id = room.id.clone();
        let author = user(&*store, &format!("writer{w}")).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                store
                    .send_message(&room_id, &author, &format!("{w}-{i}"), "x")
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let log = store.events_after(&room.id, 0, 1000).await.unwrap();
    let last = store.last_seq(&room.id).await.unwrap();
    assert_eq!(last, 1 + 8 + 200);
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>()
    );
}

pub async fn a_retried_client_id_returns_the_original(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    let first = send(&*store, &room.id, &owner, "same", "one").await;
    match store
        .send_message(&room.id, &owner, "same", "one")
        .await
        .unwrap()
    {
        SendOutcome::Existing(message) => assert_eq!(message, first),
        SendOutcome::Created { .. } => panic!("a duplicate was stored"),
    }
    // Another author may use the same client_id.
    let other = user(&*store, "other").await;
    assert!(matches!(
        store
            .send_message(&room.id, &other, "same", "two")
            .await
            .unwrap(),
        SendOutcome::Created { .. }
    ));
    assert_eq!(
        store
            .messages_before(&room.id, None, 50)
            .await
            .unwrap()
            .messages
            .len(),
        2
    );
}

pub async fn history_pages_are_in_position_order(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            send(
                &*store,
                &room.id,
                &owner,
                &format!("c{i}"),
                &format!("m{i}"),
            )
            .await
            .id,
        );
    }
    // Move m6 to the top and m0 after m3.
    store
        .move_message(&room.id, &ids[6], None, &owner)
        .await
        .unwrap();
    store
        .move_message(&room.id, &ids[0], Some(&ids[3]), &owner)
        .await
        .unwrap();
    let page = store.messages_before(&room.id, None, 50).await.unwrap();
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["m6", "m1", "m2", "m3", "m0", "m4", "m5"]);
    assert!(!page.has_more);
    let last3 = store.messages_before(&room.id, None, 3).await.unwrap();
    assert!(last3.has_more);
    let before = &last3.messages[0].position;
    let earlier = store
        .messages_before(&room.id, Some(before), 50)
        .await
        .unwrap();
    let bodies: Vec<&str> = earlier.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["m6", "m1", "m2", "m3"]);
}

pub async fn a_deleted_message_leaves_no_text_behind(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    let message = send(&*store, &room.id, &owner, "c1", "secret words").await;
    store
        .edit_message(&room.id, &message.id, "more secret words", &[])
        .await
        .unwrap();
    store.delete_message(&room.id, &message.id).await.unwrap();
    assert!(matches!(
        store.get_message(&room.id, &message.id).await,
        Err(Error::MessageNotFound)
    ));
    let log = store.events_after(&room.id, 0, 100).await.unwrap();
    assert!(log.iter().all(|e| !e.json.contains("secret")), "{log:?}");
    assert!(store
        .messages_before(&room.id, None, 50)
        .await
        .unwrap()
        .messages
        .is_empty());
}

pub async fn clearing_a_room_removes_every_message(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    for i in 0..5 {
        send(&*store, &room.id, &owner, &format!("c{i}"), "gone soon").await;
    }
    let event = store.clear_room(&room.id, &owner).await.unwrap();
    assert!(matches!(
        event.decode().unwrap().kind,
        EventKind::RoomCleared { .. }
    ));
    assert!(store
        .messages_before(&room.id, None, 50)
        .await
        .unwrap()
        .messages
        .is_empty());
    let log = store.events_after(&room.id, 0, 100).await.unwrap();
    assert!(log.iter().all(|e| !e.json.contains("gone soon")));
    // Sends after the clear work normally.
    send(&*store, &room.id, &owner, "after", "fresh").await;
    assert_eq!(
        store
            .messages_before(&room.id, None, 50)
            .await
            .unwrap()
            .messages
            .len(),
        1
    );
}

pub async fn repeated_moves_into_one_gap_keep_keys_short(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Room", "", &owner).await.unwrap();
    let a = send(&*store, &room.id, &owner, "a", "a").await;
    let _b = send(&*store, &room.id, &owner, "b", "b").await;
    let x = send(&*store, &room.id, &owner, "x", "x").await;
    let y = send(&*store, &room.id, &owner, "y", "y").await;
    let mut longest = 0;
    for i in 0..1000 {
        // Alternate two messages into the gap right after `a`: each lands between `a` and the
        // one moved before it.
        let moving = if i % 2 == 0 { &x } else { &y };
        let (message, _) = store
            .move_message(&room.id, &moving.id, Some(&a.id), &owner)
            .await
            .unwrap();
        longest = longest.max(message.position.len());
    }
    assert!(
        longest <= palaver::store::position::MAX_KEY_LEN,
        "longest key {longest}"
    );
    let page = store.messages_before(&room.id, None, 50).await.unwrap();
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["a", "y", "x", "b"]);
    let positions: Vec<&String> = page.messages.iter().map(|m| &m.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
}

pub async fn a_deleted_room_is_gone_and_its_name_free(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (room, _) = store.create_room("Temp", "", &owner).await.unwrap();
    send(&*store, &room.id, &owner, "c", "bye").await;
    let event = store.delete_room(&room.id, &owner).await.unwrap();
    // The event names who deleted the room, so its members can be told (#15).
    match event.decode().unwrap().kind {
        EventKind::RoomDeleted { by: Some(by) } => assert_eq!(by.id, owner.id),
        other => panic!("expected room.deleted naming its deleter, got {other:?}"),
    }
    assert!(matches!(
        store.get_room(&room.id).await,
        Err(Error::RoomNotFound)
    ));
    assert!(matches!(
        store.send_message(&room.id, &owner, "c2", "x").await,
        Err(Error::RoomNotFound)
    ));
    assert!(store.create_room("temp", "", &owner).await.is_ok());
    assert!(matches!(
        store.create_room("TEMP", "", &owner).await,
        Err(Error::RoomNameTaken)
    ));
}

/// Runs every conformance test against one backend, given an async constructor of fresh stores.
macro_rules! backend_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            backend_suite!(@tests $make;
                users_are_unique_ignoring_case,
                sessions_resolve_until_deleted,
                sessions_expire_and_are_swept,
                sessions_are_read_many_at_once,
                a_guest_comes_with_a_session_or_not_at_all,
                guests_sign_up_many_at_once,
                standings_are_read_many_at_once,
                event_ranges_are_read_many_at_once,
                default_rooms_are_seeded_once,
                every_change_is_one_event_with_the_next_seq,
                concurrent_sends_get_gap_free_seqs,
                a_retried_client_id_returns_the_original,
                history_pages_are_in_position_order,
                a_deleted_message_leaves_no_text_behind,
                clearing_a_room_removes_every_message,
                repeated_moves_into_one_gap_keep_keys_short,
                a_deleted_room_is_gone_and_its_name_free,
                submitted_sends_are_stored_in_submission_order,
                committed_sends_are_published_in_order_before_their_answer,
            );
        }
    };
    (@tests $make:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (store, _guard) = $make.await;
                super::$test(store).await;
            }
        )*
    };
}

/// Sends submitted one after another without waiting are stored in that order (what lets one
/// connection pipeline its sends), across two rooms, with a retry in the middle of the stream
/// answered with the original and a send to a missing room failing alone.
pub async fn submitted_sends_are_stored_in_submission_order(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let (one, _) = store.create_room("one", "", &alice).await.unwrap();
    let (two, _) = store.create_room("two", "", &alice).await.unwrap();
    let request = |room: &str, author: &User, client_id: String| SendRequest {
        room_id: room.to_string(),
        author: author.clone(),
        client_id: client_id.clone(),
        body: format!("body of {client_id}"),
        reply_to: None,
        thread_id: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    };
    let mut tickets = Vec::new();
    for i in 0..150 {
        let room = if i % 3 == 0 { &two.id } else { &one.id };
        let author = if i % 2 == 0 { &alice } else { &bob };
        tickets.push(store.submit_send(request(room, author, format!("c{i}"))));
        if i == 75 {
            // A retry of an earlier send, and a send to a room that does not exist.
            tickets.push(store.submit_send(request(&one.id, &bob, "c1".into())));
            tickets.push(store.submit_send(request("no-such-room", &alice, "lost".into())));
        }
    }
    let mut created = Vec::new();
    for (n, ticket) in tickets.into_iter().enumerate() {
        match ticket.await {
            Ok(SendOutcome::Created { message, .. }) => created.push(message),
            Ok(SendOutcome::Existing(message)) => {
                assert_eq!(n, 76, "only the retry is answered with an existing message");
                assert_eq!(message.client_id, "c1");
            }
            Err(err) => {
                assert_eq!(n, 77, "only the send to a missing room fails");
                assert!(matches!(err, Error::RoomNotFound), "{err:?}");
            }
        }
    }
    assert_eq!(created.len(), 150);
    for room in [&one.id, &two.id] {
        let sent: Vec<_> = created.iter().filter(|m| &m.room_id == room).collect();
        // Seqs and positions rise in submission order; the log holds exactly these, gap-free.
        assert!(sent
            .windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].position < w[1].position));
        let events = store.events_after(room, 0, 1000).await.unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
        let page = store.messages_before(room, None, 200).await.unwrap();
        let ids: Vec<_> = page.messages.iter().map(|m| m.client_id.clone()).collect();
        let expected: Vec<_> = sent.iter().map(|m| m.client_id.clone()).collect();
        assert_eq!(ids, expected);
    }
}

/// A store with a publisher hands it the events of every send it commits, each room's in seq
/// order, before that send is answered; retries and failed sends publish nothing; a second
/// publisher is refused (its caller then publishes on its own).
pub async fn committed_sends_are_published_in_order_before_their_answer(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let (one, _) = store.create_room("one", "", &alice).await.unwrap();
    let (two, _) = store.create_room("two", "", &alice).await.unwrap();
    // Every event after these comes from the sends below.
    let before = [
        store.last_seq(&one.id).await.unwrap(),
        store.last_seq(&two.id).await.unwrap(),
    ];
    let published: Arc<std::sync::Mutex<Vec<(String, u64)>>> = Arc::default();
    let sink = published.clone();
    assert!(store.publish_sends(Arc::new(move |events| {
        let mut sink = sink.lock().unwrap();
        sink.extend(events.iter().map(|e| (e.room_id.clone(), e.seq)));
    })));
    assert!(
        !store.publish_sends(Arc::new(|_| {})),
        "a second publisher is refused"
    );
    let request = |room: &str, author: &User, client_id: &str| SendRequest {
        room_id: room.to_string(),
        author: author.clone(),
        client_id: client_id.to_string(),
        body: "hello".to_string(),
        reply_to: None,
        thread_id: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    };
    let mut tickets = Vec::new();
    for i in 0..60 {
        let room = if i % 2 == 0 { &one.id } else { &two.id };
        let author = if i % 3 == 0 { &alice } else { &bob };
        tickets.push(store.submit_send(request(room, author, &format!("c{i}"))));
    }
    tickets.push(store.submit_send(request(&two.id, &bob, "c1")));
    tickets.push(store.submit_send(request("no-such-room", &alice, "lost")));
    let mut answered = 0;
    for ticket in tickets {
        let outcome = ticket.await;
        if let Ok(SendOutcome::Created { events, .. }) = &outcome {
            let seen = published.lock().unwrap();
            for event in events {
                assert!(
                    seen.contains(&(event.room_id.clone(), event.seq)),
                    "{}#{} was answered before it was published",
                    event.room_id,
                    event.seq
                );
            }
            answered += 1;
        }
    }
    assert_eq!(answered, 60);
    let seen = published.lock().unwrap().clone();
    for (room, before) in [&one.id, &two.id].into_iter().zip(before) {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, seq)| *seq)
            .collect();
        let logged: Vec<u64> = store
            .events_after(room, before, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert!(!logged.is_empty());
        assert_eq!(
            seqs, logged,
            "every committed send's events, once each, in seq order"
        );
    }
}

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    (Arc::new(store), dir)
}

backend_suite!(sqlite, sqlite_store());

/// A store on a database of its own, created for the test and dropped with the guard.
async fn postgres_store() -> (Arc<dyn Store>, pgdb::TestDatabase) {
    let db = pgdb::TestDatabase::create().await;
    let store = PostgresStore::open(&db.url, 5).await.unwrap();
    (Arc::new(store), db)
}

backend_suite!(postgres, postgres_store());

/// Two nodes on one PostgreSQL database, each committing its sends in groups (one transaction
/// per group, locking every room of the group): the same sends submitted through both at once,
/// across three rooms, are each stored exactly once (both nodes answer with the same message),
/// every room's log stays gap-free, and no group waits on the other's forever.
#[tokio::test]
async fn two_nodes_committing_groups_into_the_same_rooms_store_each_send_once() {
    let db = pgdb::TestDatabase::create().await;
    let a: Arc<dyn Store> = Arc::new(PostgresStore::open(&db.url, 4).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::open(&db.url, 4).await.unwrap());
    let alice = user(&*a, "alice").await;
    let mut rooms = Vec::new();
    for name in ["one", "two", "three"] {
        rooms.push(a.create_room(name, "", &alice).await.unwrap().0.id);
    }
    let request = |i: usize| SendRequest {
        room_id: rooms[i % 3].clone(),
        author: alice.clone(),
        client_id: format!("c{i}"),
        body: format!("body {i}"),
        reply_to: None,
        thread_id: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    };
    // Submitted without waiting, so each node's lanes take them in groups.
    let (mut through_a, mut through_b) = (Vec::new(), Vec::new());
    for i in 0..300 {
        through_a.push(a.submit_send(request(i)));
        through_b.push(b.submit_send(request(299 - i)));
    }
    let mut by_client_id = std::collections::HashMap::new();
    for ticket in through_a.into_iter().chain(through_b) {
        let message = match ticket.await.unwrap() {
            SendOutcome::Created { message, .. } | SendOutcome::Existing(message) => message,
        };
        let seen = by_client_id
            .entry(message.client_id.clone())
            .or_insert_with(|| message.id.clone());
        assert_eq!(
            *seen, message.id,
            "both nodes answer {} with one message",
            message.client_id
        );
    }
    assert_eq!(by_client_id.len(), 300);
    // One client_id sent to two different rooms through the two nodes at once: the room locks
    // don't order them, the unique index does; one message is stored and both answers name it.
    let (mut through_a, mut through_b) = (Vec::new(), Vec::new());
    for i in 0..60 {
        let twice = |room: &str| SendRequest {
            room_id: room.to_string(),
            client_id: format!("twice{i}"),
            ..request(i)
        };
        through_a.push(a.submit_send(twice(&rooms[0])));
        through_b.push(b.submit_send(twice(&rooms[1])));
    }
    for (from_a, from_b) in through_a.into_iter().zip(through_b) {
        let id = |outcome: SendOutcome| match outcome {
            SendOutcome::Created { message, .. } | SendOutcome::Existing(message) => message.id,
        };
        assert_eq!(id(from_a.await.unwrap()), id(from_b.await.unwrap()));
    }
    for room in &rooms {
        let events = a.events_after(room, 0, 1000).await.unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
        let page = a.messages_before(room, None, 300).await.unwrap();
        let once = page
            .messages
            .iter()
            .filter(|m| !m.client_id.starts_with("twice"));
        assert_eq!(once.count(), 100, "each of the room's sends once");
    }
    let twice: usize = {
        let mut n = 0;
        for room in &rooms {
            let page = a.messages_before(room, None, 300).await.unwrap();
            n += page
                .messages
                .iter()
                .filter(|m| m.client_id.starts_with("twice"))
                .count();
        }
        n
    };
    assert_eq!(
        twice, 60,
        "each client_id stored once, in one of the two rooms"
    );
}
