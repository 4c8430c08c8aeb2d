//! Long-polls leave nothing behind (issue 23 item 10): a long-poll whose client goes away
//! mid-wait ends its watch of the room, so the hub forgets the room again.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_on, spawn_on_with, StoreKind, TestApp, WAIT};

/// Waits (bounded by [`WAIT`]) until the hub holds the room or not, as `held` says.
async fn until_held(app: &crate::helpers::TestApp, room_id: &str, held: bool) {
    let deadline = Instant::now() + WAIT;
    while app.state.hub.has_room(room_id) != held {
        assert!(
            Instant::now() < deadline,
            "the hub {} the room",
            if held { "never held" } else { "still holds" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_long_poll_whose_client_goes_away_ends_its_watch() {
    let app = spawn_app().await;
    let (_, token) = app.guest("poller").await;
    let room = app.create_room(&token, "Polled").await;
    assert!(!app.state.hub.has_room(&room.id), "nobody watches it yet");
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let request = format!(
        "GET /api/rooms/{}/events?after={}&wait=30 HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\n\r\n",
        room.id, room.last_seq, app.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    until_held(&app, &room.id, true).await;
    // The client gives up long before the 30 s wait is over.
    drop(stream);
    until_held(&app, &room.id, false).await;
    // A long-poll that ends by its own timeout lets go too.
    let (status, _) = app
        .get(
            &format!(
                "/api/rooms/{}/events?after={}&wait=1",
                room.id, room.last_seq
            ),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200);
    until_held(&app, &room.id, false).await;
}

/// A poll's answer: status and body.
async fn poll(app: &TestApp, token: &str, room_id: &str, query: &str) -> (u16, Value) {
    app.get(&format!("/api/rooms/{room_id}/events?{query}"), Some(token))
        .await
}

/// Long-polls (30 s each, live) on a task, carrying `after` and the live token forward, until
/// an answer satisfies `done` (an answer may come early for a presence change of no interest
/// to the test); answers its status and body. Any status but 200 ends it too.
fn start_poll(
    app: &TestApp,
    token: &str,
    room_id: &str,
    after: u64,
    live: &str,
    done: fn(&Value) -> bool,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let base = app.url(&format!("/api/rooms/{room_id}/events"));
    let (http, bearer) = (app.http.clone(), token.to_string());
    let (mut after, mut live) = (after, live.to_string());
    tokio::spawn(async move {
        loop {
            let url = format!("{base}?after={after}&wait=30&live={live}");
            let reply = http.get(url).bearer_auth(&bearer).send().await.unwrap();
            let status = reply.status().as_u16();
            let body: Value = reply.json().await.unwrap();
            if status != 200 || done(&body) {
                return (status, body);
            }
            after = body["last_seq"].as_u64().unwrap();
            live = body["live"].as_str().unwrap().to_string();
        }
    })
}

fn has_events(page: &Value) -> bool {
    page["events"].as_array().is_some_and(|e| !e.is_empty())
}

/// The answer of a poll started with [`start_poll`], within [`WAIT`].
async fn answer(poll: tokio::task::JoinHandle<(u16, Value)>) -> (u16, Value) {
    tokio::time::timeout(WAIT, poll)
        .await
        .expect("the poll answers in time")
        .unwrap()
}

fn ids(users: &Value) -> Vec<String> {
    let mut ids: Vec<String> = users
        .as_array()
        .unwrap_or_else(|| panic!("a list of users, got {users}"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Issue #15 item 2: a client that long-polls (its socket blocked) is online to the others and
/// sees who is online and typing, as a socket client does; it goes offline once it stops.
async fn a_live_poller_is_online_and_sees_presence_and_typing(store: StoreKind) {
    let app = spawn_on_with(store, |c| c.poll_presence_grace_ms = 300).await;
    let (alice, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Porch").await;
    let mut ws = app.ws(&alice_token).await;
    ws.subscribe(&room.id, None).await;

    // A plain read is no presence, and says nothing of it.
    let (status, page) = poll(&app, &bob_token, &room.id, "after=0").await;
    assert_eq!(status, 200);
    assert!(page.get("online").is_none() && page.get("live").is_none());

    // The first live poll answers at once with who is online, Bob included.
    let (status, page) = poll(&app, &bob_token, &room.id, "after=0&wait=30&live=").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        ids(&page["online"]),
        sorted(vec![alice.id.clone(), bob.id.clone()])
    );
    assert_eq!(page["typing"], json!([]));
    let token = page["live"].as_str().unwrap().to_string();
    let last = page["last_seq"].as_u64().unwrap();
    ws.expect_with("Bob online", |f| {
        (f["type"] == "presence" && ids(&f["joined"]).contains(&bob.id)).then_some(())
    })
    .await;

    // Alice types: Bob's waiting poll answers at once, with her typing and no event.
    let waiting = start_poll(&app, &bob_token, &room.id, last, &token, |page| {
        page["typing"].as_array().is_some_and(|t| !t.is_empty())
    });
    settle_poll(&app, &room.id).await;
    ws.send(json!({"type": "typing", "room_id": room.id})).await;
    let (status, page) = answer(waiting).await;
    assert_eq!(status, 200);
    assert_eq!(page["events"], json!([]));
    assert_eq!(ids(&page["typing"]), [alice.id.as_str()]);
    assert!(page.get("online").is_none(), "nobody came or went: {page}");
    let token = page["live"].as_str().unwrap().to_string();

    // Bob types over REST: Alice's socket sees it.
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/typing", room.id),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    ws.expect_with("Bob typing", |f| {
        (f["type"] == "typing" && f["user"]["id"] == bob.id.as_str()).then_some(())
    })
    .await;

    // A message reaches the poll (from the room's feed: the frame the socket got).
    ws.send_message(&room.id, "hi-bob", "hello Bob").await;
    let (_, page) = poll(
        &app,
        &bob_token,
        &room.id,
        &format!("after={last}&wait=30&live={token}"),
    )
    .await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["kind"], "message.created");
    assert_eq!(events[0]["message"]["body"], "hello Bob");
    assert_eq!(page["last_seq"], events[0]["seq"]);

    // Bob stops polling: after the grace he goes offline, and the hub forgets the room's feed.
    ws.expect_with("Bob offline", |f| {
        (f["type"] == "presence" && ids(&f["left"]).contains(&bob.id)).then_some(())
    })
    .await;
    let (_, page) = poll(&app, &alice_token, &room.id, "after=0&live=").await;
    assert_eq!(ids(&page["online"]), [alice.id.as_str()]);
}

/// Waits until a poll of the room is open on the server.
async fn settle_poll(app: &TestApp, room_id: &str) {
    let deadline = Instant::now() + WAIT;
    while app.state.hub.open_polls(room_id) == 0 {
        assert!(Instant::now() < deadline, "the poll never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A waiting poller learns of its own removal (the page ends with it, and says so) and of the
/// room's deletion (the page ends with `room.deleted`, which names who deleted it); then the
/// room is gone for them.
async fn a_waiting_poller_learns_of_its_removal_and_of_the_rooms_deletion(store: StoreKind) {
    let app = spawn_on(store).await;
    let (alice, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (_, carol_token) = app.guest("carol").await;
    let room = app.create_room(&alice_token, "Book Club").await;
    for token in [&bob_token, &carol_token] {
        let (status, _) = app
            .post(
                &format!("/api/rooms/{}/join", room.id),
                Some(token),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
    }
    // Each first live poll answers at once (with the state); the second one waits.
    let mut waiting = Vec::new();
    for token in [&bob_token, &carol_token] {
        let (_, page) = poll(&app, token, &room.id, "after=0&live=").await;
        let after = page["last_seq"].as_u64().unwrap();
        let live = page["live"].as_str().unwrap();
        waiting.push(start_poll(&app, token, &room.id, after, live, has_events));
    }
    let carol_waits = waiting.pop().unwrap();
    let bob_waits = waiting.pop().unwrap();
    while app.state.hub.open_polls(&room.id) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/kick", room.id),
            Some(&alice_token),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, page) = answer(bob_waits).await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["kind"], "member.kicked", "{page}");
    assert_eq!(page["removed"], "kicked");

    // Carol's poll was woken by the kick (an event): it carries no removal of hers. Her next
    // poll waits, and the deletion ends it.
    let (_, page) = answer(carol_waits).await;
    assert!(page.get("removed").is_none(), "{page}");
    let after = page["last_seq"].as_u64().unwrap();
    let live = page["live"].as_str().unwrap().to_string();
    let carol_waits = start_poll(&app, &carol_token, &room.id, after, &live, has_events);
    settle_poll(&app, &room.id).await;
    let (status, _) = app
        .delete(&format!("/api/rooms/{}", room.id), Some(&alice_token))
        .await;
    assert_eq!(status, 204);
    let (status, page) = answer(carol_waits).await;
    assert_eq!(status, 200, "{page}");
    let last = page["events"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["kind"], "room.deleted", "{page}");
    assert_eq!(last["by"]["id"], alice.id.as_str());
    let (status, body) = poll(&app, &carol_token, &room.id, "after=0&live=").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("room_not_found"))
    );
}

/// A poll answered from memory never shows what a delete erased: the copy of the message's
/// event kept for polls goes with the delete, and the poll reads the erased log.
async fn a_delete_erases_what_polls_are_answered_from(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Secrets").await;
    // Bob's live poll keeps the room's feed while his lease lasts.
    let (_, page) = poll(&app, &bob_token, &room.id, "after=0&live=").await;
    let before = page["last_seq"].as_u64().unwrap();
    let (status, sent) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&alice_token),
            json!({"client_id": "s1", "body": "the combination is 1234"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, page) = poll(&app, &bob_token, &room.id, &format!("after={before}&live=")).await;
    assert_eq!(
        page["events"][0]["message"]["body"],
        "the combination is 1234"
    );
    let (status, _) = app
        .delete(
            &format!(
                "/api/rooms/{}/messages/{}",
                room.id,
                sent["id"].as_str().unwrap()
            ),
            Some(&alice_token),
        )
        .await;
    assert_eq!(status, 204);
    let (_, page) = poll(&app, &bob_token, &room.id, &format!("after={before}&live=")).await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{page}");
    assert_eq!(
        events[0]["message"]["body"], "",
        "the text is erased: {page}"
    );
    assert_eq!(events[1]["kind"], "message.deleted");
}

/// Bad `live` tokens get a clear error.
async fn an_overlong_live_token_is_refused(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Tokens").await;
    let (status, body) = poll(
        &app,
        &token,
        &room.id,
        &format!("after=0&live={}", "a".repeat(65)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// A poll loop's session is kept for a moment between polls, but a logout ends it at once: the
/// next poll is refused.
async fn a_logout_ends_a_poll_loop_at_once(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Loop").await;
    for _ in 0..3 {
        let (status, _) = poll(&app, &token, &room.id, "after=0&live=").await;
        assert_eq!(status, 200);
    }
    let (status, _) = app.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(status, 204);
    let (status, body) = poll(&app, &token, &room.id, "after=0&live=").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
}

crate::both_stores!(
    a_logout_ends_a_poll_loop_at_once,
    a_live_poller_is_online_and_sees_presence_and_typing,
    a_waiting_poller_learns_of_its_removal_and_of_the_rooms_deletion,
    a_delete_erases_what_polls_are_answered_from,
    an_overlong_live_token_is_refused,
);
