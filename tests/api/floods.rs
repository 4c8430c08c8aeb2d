//! Floods of state changes (issue 23, items 2 and 3): room changes and membership changes are
//! rate limited per user, and one actor's room updates reach the room lists coalesced.
//!
//! Each limit is turned low with a refill of one a minute, so a test counts exactly what the
//! burst allows however slow the machine; where a refill could still fall inside a test, the
//! bound grows with the time the test took.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_with, TestApp, WsClient};

/// The room's `last_seq`, as its owner or any reader sees it.
async fn last_seq(app: &TestApp, token: &str, room_id: &str) -> u64 {
    let (status, room) = app.get(&format!("/api/rooms/{room_id}"), Some(token)).await;
    assert_eq!(status, 200, "{room}");
    room["last_seq"].as_u64().unwrap()
}

/// The id of the room named `name` among the default rooms.
async fn room_named(app: &TestApp, token: &str, name: &str) -> String {
    let (_, rooms) = app.get("/api/rooms", Some(token)).await;
    rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {rooms}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What a burst of `burst` with one refill a minute may have let through in `elapsed`.
fn allowance(burst: u64, elapsed: Duration) -> u64 {
    burst + elapsed.as_secs() / 60
}

fn assert_rate_limited(what: &str, (status, body): &(u16, Value)) {
    assert_eq!(*status, 429, "{what}: {body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{what}: {body}");
}

#[tokio::test]
async fn two_hundred_join_leave_pairs_are_refused_after_the_burst_and_the_log_stays_short() {
    // Arrange: ten membership changes at once, then one a minute.
    let app = spawn_with(|c| {
        c.join_rate_burst = 10;
        c.join_rate_per_min = 1;
    })
    .await;
    let (_, churner) = app.guest("churner").await;
    let (_, bystander) = app.guest("bystander").await;
    let general = room_named(&app, &churner, "General").await;
    let before = last_seq(&app, &churner, &general).await;
    let join = format!("/api/rooms/{general}/join");
    let leave = format!("/api/rooms/{general}/leave");

    // Act: 200 join/leave pairs, back to back.
    let start = Instant::now();
    let (mut joined, mut refused) = (0u64, 0u64);
    for i in 0..200 {
        let answer = app.post(&join, Some(&churner), json!({})).await;
        match answer.0 {
            200 => joined += 1,
            _ => {
                assert_rate_limited(&format!("join {i}"), &answer);
                refused += 1;
            }
        }
        let answer = app.post(&leave, Some(&churner), json!({})).await;
        if answer.0 != 204 {
            assert_rate_limited(&format!("leave {i}"), &answer);
        }
    }
    let elapsed = start.elapsed();

    // Assert: a join and a leave cost one each, so five pairs fit in the burst; the rest of the
    // joins are refused (a leave after a refused join writes nothing and costs nothing).
    let allowed = allowance(10, elapsed);
    assert_eq!(joined + refused, 200);
    if elapsed < Duration::from_secs(60) {
        assert_eq!((joined, refused), (5, 195), "in {elapsed:?}");
    }
    let grown = last_seq(&app, &churner, &general).await - before;
    assert!(
        (10..=allowed).contains(&grown),
        "the log grew by {grown} in {elapsed:?}"
    );

    // The limit is the churner's alone.
    let (status, body) = app.post(&join, Some(&bystander), json!({})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_subscribe_to_a_room_one_is_in_is_never_limited_and_one_that_joins_is() {
    // Arrange: two membership changes, spent on joining General and Random.
    let app = spawn_with(|c| {
        c.join_rate_burst = 2;
        c.join_rate_per_min = 1;
    })
    .await;
    let (user, token) = app.guest("resumer").await;
    let general = room_named(&app, &token, "General").await;
    let random = room_named(&app, &token, "Random").await;
    let tech = room_named(&app, &token, "Tech Talk").await;
    for room in [&general, &random] {
        let (status, body) = app
            .post(&format!("/api/rooms/{room}/join"), Some(&token), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let start = Instant::now();

    // Act + Assert: a joined room can be subscribed again and again, on new sockets too (what
    // every resume does), with the bucket empty.
    for after in 0..5 {
        let mut ws = app.ws(&token).await;
        ws.expect("hello").await;
        for room in [&general, &random] {
            let (_, subscribed) = ws.subscribe(room, Some(after)).await;
            assert_eq!(subscribed["room_id"], room.as_str(), "{subscribed}");
        }
        ws.close().await;
    }

    // A subscribe that would join is a membership change: refused, and nothing is written.
    if start.elapsed() < Duration::from_secs(60) {
        let seq = last_seq(&app, &token, &tech).await;
        let mut ws = app.ws(&token).await;
        ws.expect("hello").await;
        ws.send(json!({"type": "subscribe", "room_id": tech, "ref": "join"}))
            .await;
        let error = ws.expect("error").await;
        assert_eq!(error["code"], "rate_limited", "{error}");
        assert_eq!(error["ref"], "join", "{error}");
        assert_eq!(last_seq(&app, &token, &tech).await, seq);
        let (_, members) = app
            .get(&format!("/api/rooms/{tech}/members"), Some(&token))
            .await;
        assert!(
            !members
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user"]["id"] == user.id.as_str()),
            "{members}"
        );
        // The socket goes on: its other subscriptions still answer.
        ws.subscribe(&general, None).await;
    }
}

#[tokio::test]
async fn room_changes_over_the_burst_are_refused_over_rest_and_the_socket_and_change_nothing() {
    // Arrange: five room changes at once, then one a minute; the creation is the first.
    let app = spawn_with(|c| {
        c.room_rate_burst = 5;
        c.room_rate_per_min = 1;
    })
    .await;
    let (_, owner) = app.guest("owner").await;
    let (_, other) = app.guest("other").await;
    let room = app.create_room(&owner, "Busy Room").await;
    let path = format!("/api/rooms/{}", room.id);

    // Act: 50 topic changes, back to back.
    let start = Instant::now();
    let mut accepted = Vec::new();
    for i in 0..50 {
        let answer = app
            .patch(&path, Some(&owner), json!({"topic": format!("topic {i}")}))
            .await;
        match answer.0 {
            200 => accepted.push(i),
            _ => assert_rate_limited(&format!("patch {i}"), &answer),
        }
    }

    // Assert: the other four of the burst went through, in order, and the refused ones
    // changed nothing.
    let allowed = allowance(5, start.elapsed()) as usize - 1;
    assert!(
        (4..=allowed).contains(&accepted.len()),
        "{accepted:?} in {:?}",
        start.elapsed()
    );
    assert_eq!(accepted[..4], [0, 1, 2, 3]);
    let (_, now) = app.get(&path, Some(&owner)).await;
    assert_eq!(
        now["topic"],
        format!("topic {}", accepted.last().unwrap()),
        "{now}"
    );

    if start.elapsed() < Duration::from_secs(60) {
        // Clearing, deleting and creating are room changes too, over REST and the socket.
        let seq = last_seq(&app, &owner, &room.id).await;
        assert_rate_limited(
            "clear",
            &app.post(&format!("{path}/clear"), Some(&owner), json!({}))
                .await,
        );
        assert_rate_limited("delete", &app.delete(&path, Some(&owner)).await);
        assert_rate_limited(
            "create",
            &app.post("/api/rooms", Some(&owner), json!({"name": "One More"}))
                .await,
        );
        let mut ws = app.ws(&owner).await;
        ws.expect("hello").await;
        ws.send(json!({"type": "clear", "room_id": room.id, "ref": "clear"}))
            .await;
        let error = ws.expect("error").await;
        assert_eq!(
            (error["code"].as_str(), error["ref"].as_str()),
            (Some("rate_limited"), Some("clear")),
            "{error}"
        );
        assert_eq!(last_seq(&app, &owner, &room.id).await, seq);
    }

    // The limit is the owner's alone.
    app.create_room(&other, "Someone Else's").await;
}

/// `room_list` frames about `room_id` on `ws` until one whose room `done` accepts.
async fn room_lists_until(
    ws: &mut WsClient,
    room_id: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = ws.next().await;
        if frame["type"] == "room_list" && frame["room"]["id"] == room_id {
            let last = done(&frame["room"]);
            seen.push(frame);
            if last {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn a_flood_of_room_updates_reaches_every_socket_coalesced() {
    // Arrange: no room-change limit, so only the coalescing stands between the owner's loop
    // and every socket.
    let app = spawn_with(|c| c.room_rate_per_min = 0).await;
    let (_, owner) = app.guest("owner").await;
    let (_, watcher) = app.guest("watcher").await;
    let mut idle = app.ws(&watcher).await;
    idle.expect("hello").await;
    let room = app.create_room(&owner, "Flapping").await;
    room_lists_until(&mut idle, &room.id, |_| true).await; // created: at once

    // Act: 50 topic changes, back to back.
    let start = Instant::now();
    for i in 1..=50 {
        let (status, body) = app
            .patch(
                &format!("/api/rooms/{}", room.id),
                Some(&owner),
                json!({"topic": format!("t{i}")}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Assert: the last state arrives, after at most one update per flush (one a second, and
    // the one due for the creation's member count).
    let seen = room_lists_until(&mut idle, &room.id, |r| r["topic"] == "t50").await;
    let elapsed = start.elapsed();
    assert!(
        seen.len() as u64 <= elapsed.as_secs() + 2,
        "{} room_list frames in {elapsed:?}: {seen:?}",
        seen.len()
    );
    for frame in &seen {
        assert_eq!(frame["change"], "updated", "{frame}");
    }
}
