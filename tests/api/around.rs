//! A message opened in its context (issue #11): `GET …/messages?around=ID` answers a window of
//! the room's history around it, and `?after=POSITION` pages forward from there to the newest
//! without a gap or a repeat. The same gate as history; a thread reply opens around its
//! thread's first message. Every test runs on SQLite and on PostgreSQL.

use serde_json::{json, Value};

use crate::helpers::{spawn_on_with, StoreKind, TestApp};
use crate::moderation::code;
use crate::private_rooms::private_room;

/// A server that lets one user send quickly, a user and a room with `n` messages `m0`…: the
/// messages in order.
async fn room_of(store: StoreKind, n: usize) -> (TestApp, String, String, Vec<Value>) {
    let app = spawn_on_with(store, |config| {
        config.rate_burst = 1000;
        config.rate_per_sec = 1000;
    })
    .await;
    let (_, token) = app.guest("reader").await;
    let room = app.create_room(&token, "Archive").await;
    let mut messages = Vec::new();
    for i in 0..n {
        messages.push(send(&app, &token, &room.id, &format!("m{i}"), None).await);
    }
    (app, token, room.id, messages)
}

async fn send(
    app: &TestApp,
    token: &str,
    room_id: &str,
    body: &str,
    thread: Option<&str>,
) -> Value {
    let (status, message) = app
        .post(
            &format!("/api/rooms/{room_id}/messages"),
            Some(token),
            json!({"client_id": format!("c-{body}"), "body": body, "thread_id": thread}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    message
}

/// The bodies of a page's messages.
fn bodies(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect()
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

async fn around(app: &TestApp, token: &str, room_id: &str, query: &str) -> (u16, Value) {
    app.get(
        &format!("/api/rooms/{room_id}/messages?{query}"),
        Some(token),
    )
    .await
}

async fn a_window_holds_the_message_with_history_on_both_sides(store: StoreKind) {
    let (app, token, room, messages) = room_of(store, 30).await;
    let id = |i: usize| messages[i]["id"].as_str().unwrap().to_string();
    // A thread reply in the middle is no part of the room's windows.
    send(&app, &token, &room, "reply", Some(&id(14))).await;

    let (status, page) = around(&app, &token, &room, &format!("around={}&limit=10", id(15))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        bodies(&page),
        names(10..20),
        "five older, the message, four newer"
    );
    assert_eq!(
        (page["has_more"].as_bool(), page["has_newer"].as_bool()),
        (Some(true), Some(true))
    );

    // At the start and at the end the other side fills the window.
    let (_, page) = around(&app, &token, &room, &format!("around={}&limit=10", id(0))).await;
    assert_eq!(bodies(&page), names(0..10));
    assert_eq!(
        (page["has_more"].as_bool(), page["has_newer"].as_bool()),
        (Some(false), Some(true))
    );
    let (_, page) = around(&app, &token, &room, &format!("around={}&limit=10", id(29))).await;
    assert_eq!(bodies(&page), names(20..30));
    assert_eq!(
        (page["has_more"].as_bool(), page["has_newer"].as_bool()),
        (Some(true), Some(false))
    );

    // The smallest window is the message; the default one (50) holds the whole room.
    let (_, page) = around(&app, &token, &room, &format!("around={}&limit=1", id(7))).await;
    assert_eq!(bodies(&page), names(7..8));
    assert_eq!(
        (page["has_more"].as_bool(), page["has_newer"].as_bool()),
        (Some(true), Some(true))
    );
    let (_, page) = around(&app, &token, &room, &format!("around={}", id(7))).await;
    assert_eq!(bodies(&page), names(0..30));
    assert_eq!(
        (page["has_more"].as_bool(), page["has_newer"].as_bool()),
        (Some(false), Some(false))
    );
    for limit in ["0", "201", "x"] {
        let (status, body) = around(
            &app,
            &token,
            &room,
            &format!("around={}&limit={limit}", id(7)),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_request"),
            "limit {limit}: {body}"
        );
    }

    // A page read back from the end says nothing of newer messages.
    let (_, page) = around(&app, &token, &room, "limit=5").await;
    assert_eq!(bodies(&page), names(25..30));
    assert!(page.get("has_newer").is_none(), "{page}");
}

async fn a_thread_reply_opens_around_its_first_message(store: StoreKind) {
    let (app, token, room, messages) = room_of(store, 9).await;
    let root = messages[4]["id"].as_str().unwrap();
    let reply = send(&app, &token, &room, "reply", Some(root)).await;
    let (status, page) = around(
        &app,
        &token,
        &room,
        &format!("around={}&limit=3", reply["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(bodies(&page), names(3..6));
    assert_eq!(page["messages"][1]["thread"]["reply_count"], 1);
}

async fn what_is_not_a_live_message_of_the_room_is_not_found(store: StoreKind) {
    let (app, token, room, messages) = room_of(store, 5).await;
    let other = app.create_room(&token, "Elsewhere").await;
    let elsewhere = send(&app, &token, &other.id, "elsewhere", None).await;
    let gone = messages[2]["id"].as_str().unwrap();
    let (status, _) = app
        .delete(&format!("/api/rooms/{room}/messages/{gone}"), Some(&token))
        .await;
    assert!(status < 300, "deleted: {status}");
    for id in [
        gone,
        elsewhere["id"].as_str().unwrap(),
        "no-such-message",
        "%00",
    ] {
        let (status, body) = around(&app, &token, &room, &format!("around={id}")).await;
        assert_eq!(
            (status, code(&body)),
            (404, "message_not_found"),
            "{id}: {body}"
        );
    }
    // The deleted message is no part of the windows of its neighbours either.
    let (_, page) = around(
        &app,
        &token,
        &room,
        &format!("around={}", messages[1]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(bodies(&page), ["m0", "m1", "m3", "m4"]);
}

async fn a_private_room_has_no_context_for_strangers(store: StoreKind) {
    let (app, owner, _, _) = room_of(store, 0).await;
    let secret = private_room(&app, &owner, "Vault").await;
    let secret = secret["id"].as_str().unwrap();
    let message = send(&app, &owner, secret, "hidden", None).await;
    let id = message["id"].as_str().unwrap();
    let (_, stranger) = app.guest("stranger").await;
    for query in [
        format!("around={id}"),
        format!("after={}", message["position"].as_str().unwrap()),
    ] {
        let (status, body) = around(&app, &stranger, secret, &query).await;
        assert_eq!(
            (status, code(&body)),
            (404, "room_not_found"),
            "{query}: {body}"
        );
    }
    let (status, page) = around(&app, &owner, secret, &format!("around={id}")).await;
    assert_eq!((status, bodies(&page)), (200, vec!["hidden".to_string()]));
}

async fn before_around_and_after_go_one_at_a_time(store: StoreKind) {
    let (app, token, room, messages) = room_of(store, 2).await;
    let id = messages[0]["id"].as_str().unwrap();
    let position = messages[0]["position"].as_str().unwrap();
    for query in [
        format!("around={id}&before={position}"),
        format!("around={id}&after={position}"),
        format!("before={position}&after={position}"),
    ] {
        let (status, body) = around(&app, &token, &room, &query).await;
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_request"),
            "{query}: {body}"
        );
    }
}

async fn after_pages_walk_from_a_window_to_the_newest(store: StoreKind) {
    let (app, token, room, messages) = room_of(store, 23).await;
    let (_, window) = around(
        &app,
        &token,
        &room,
        &format!("around={}&limit=5", messages[4]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(bodies(&window), names(2..7));
    let mut seen = bodies(&window);
    let mut page = window;
    let mut pages = 0;
    while page["has_newer"] == true {
        let last = page["messages"].as_array().unwrap().last().unwrap()["position"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, next) = around(&app, &token, &room, &format!("after={last}&limit=7")).await;
        assert_eq!(status, 200, "{next}");
        assert_eq!(
            next["has_more"], true,
            "older messages lie behind every forward page"
        );
        seen.extend(bodies(&next));
        page = next;
        pages += 1;
        assert!(pages <= 3, "the pages end");
    }
    assert_eq!(pages, 3, "16 newer messages in pages of 7");
    assert_eq!(seen, names(2..23), "no gap, no repeat, up to the newest");
    // After the newest: an empty page with nothing newer.
    let newest = messages[22]["position"].as_str().unwrap();
    let (_, page) = around(&app, &token, &room, &format!("after={newest}")).await;
    assert_eq!(bodies(&page), Vec::<String>::new());
    assert_eq!(
        (page["has_more"].as_bool(), page["has_newer"].as_bool()),
        (Some(true), Some(false))
    );
}

crate::both_stores!(
    a_window_holds_the_message_with_history_on_both_sides,
    a_thread_reply_opens_around_its_first_message,
    what_is_not_a_live_message_of_the_room_is_not_found,
    a_private_room_has_no_context_for_strangers,
    before_around_and_after_go_one_at_a_time,
    after_pages_walk_from_a_window_to_the_newest
);
