//! Abuse limits (issue 3, item 7): each is a setting, turned low here, and each excess gets its
//! code and changes nothing.

use serde_json::json;

use crate::helpers::{spawn_with, Closed};

#[tokio::test]
async fn sending_faster_than_the_rate_limit_is_rejected_and_not_stored() {
    // Arrange: a burst of 3, then one a second.
    let app = spawn_with(|c| {
        c.rate_burst = 3;
        c.rate_per_sec = 1;
    })
    .await;
    let (_, sock_token) = app.guest("socketeer").await;
    let (_, rest_token) = app.guest("rester").await;
    let room = app.create_room(&sock_token, "Flood").await;
    let mut ws = app.ws(&sock_token).await;
    ws.subscribe(&room.id, None).await;

    // Act: four sends over the socket, back to back (the socket carries them out in order).
    for i in 1..=4 {
        ws.send(
            json!({"type": "send", "room_id": room.id, "client_id": format!("s{i}"),
                       "body": format!("socket {i}")}),
        )
        .await;
    }
    let mut answers = Vec::new();
    while answers.len() < 4 {
        let frame = ws.next().await;
        if frame["type"] == "ack" || frame["type"] == "error" {
            answers.push(frame);
        }
    }

    // Assert: the 4th is refused, with its client_id.
    for (i, answer) in answers.iter().take(3).enumerate() {
        assert_eq!(answer["type"], "ack", "send {}: {answer}", i + 1);
    }
    assert_eq!(answers[3]["type"], "error", "{}", answers[3]);
    assert_eq!(answers[3]["code"], "rate_limited", "{}", answers[3]);
    assert_eq!(answers[3]["client_id"], "s4");

    // Act: over REST (another user: the limit is per user), four sends at once.
    let path = format!("/api/rooms/{}/messages", room.id);
    let send = |i: u32| {
        app.post(
            &path,
            Some(&rest_token),
            json!({"client_id": format!("r{i}"), "body": format!("rest {i}")}),
        )
    };
    let answers = futures_util::future::join_all((1..=4).map(send)).await;

    // Assert: three are stored, one is a 429.
    let refused: Vec<&(u16, serde_json::Value)> = answers
        .iter()
        .filter(|(status, _)| *status != 201)
        .collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    let (status, body) = refused[0];
    assert_eq!(
        (*status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let mut accepted: Vec<String> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, m)| m["body"].as_str().unwrap().to_string())
        .collect();
    accepted.sort();

    // Assert: the refused messages were not stored.
    let mut bodies: Vec<String> = app
        .history(&sock_token, &room.id)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = vec!["socket 1".into(), "socket 2".into(), "socket 3".into()];
    expected.extend(accepted);
    expected.sort();
    assert_eq!(bodies, expected);
}

#[tokio::test]
async fn login_attempts_per_username_are_limited_even_with_the_right_password() {
    // Arrange
    let app = spawn_with(|c| c.login_per_user_per_min = 3).await;
    for name in ["alice", "bob"] {
        let (status, body) = app
            .post(
                "/api/auth/register",
                None,
                json!({"username": name, "password": "correct-horse"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let login = |name: &'static str, password: &'static str| {
        app.post(
            "/api/auth/login",
            None,
            json!({"username": name, "password": password}),
        )
    };

    // Act: three wrong guesses use up alice's attempts.
    for _ in 0..3 {
        let (status, body) = login("alice", "wrong-guess").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
    }

    // Assert: the 4th is refused though the password is right, in any case of the name.
    for name in ["alice", "ALICE"] {
        let (status, body) = login(name, "correct-horse").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("rate_limited")),
            "{name}"
        );
        assert!(body.get("token").is_none(), "{body}");
    }
    // Another username is not affected.
    let (status, body) = login("bob", "correct-horse").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn sign_ins_from_one_address_are_limited() {
    // Arrange
    let app = spawn_with(|c| c.login_per_address_per_min = 2).await;
    app.guest("first").await;
    app.guest("second").await;

    // Act
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "third"}))
        .await;

    // Assert
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    for (path, body) in [
        (
            "/api/auth/register",
            json!({"username": "fourth", "password": "a rather long passphrase"}),
        ),
        (
            "/api/auth/login",
            json!({"username": "first", "password": "a rather long passphrase"}),
        ),
    ] {
        let (status, answer) = app.post(path, None, body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (429, Some("rate_limited")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_socket_over_the_per_user_connection_cap_gets_too_many_connections_and_1008() {
    // Arrange
    let app = spawn_with(|c| c.max_connections_per_user = 2).await;
    let (_, token) = app.guest("tabby").await;
    let (_, other_token) = app.guest("other").await;
    let mut first = app.ws(&token).await;
    first.expect("hello").await;
    let mut second = app.ws(&token).await;
    second.expect("hello").await;

    // Act
    let mut third = app.ws(&token).await;

    // Assert
    let frame = third.next().await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "too_many_connections", "{frame}");
    assert_eq!(third.next_or_close().await, Err(Closed::Code(1008)));
    // The open ones still work, and the cap is per user.
    first.send(json!({"type": "ping", "ref": 1})).await;
    assert_eq!(first.expect("pong").await["ref"], 1);
    let mut other = app.ws(&other_token).await;
    assert_eq!(other.next().await["type"], "hello");
}

#[tokio::test]
async fn creating_a_room_over_the_per_user_cap_is_too_many_rooms() {
    // Arrange
    let app = spawn_with(|c| c.max_rooms_per_user = 2).await;
    let (_, token) = app.guest("builder").await;
    let (_, other_token) = app.guest("other").await;
    app.create_room(&token, "One").await;
    app.create_room(&token, "Two").await;

    // Act
    let (status, body) = app
        .post("/api/rooms", Some(&token), json!({"name": "Three"}))
        .await;

    // Assert
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("too_many_rooms"))
    );
    let (_, rooms) = app.get("/api/rooms", Some(&token)).await;
    assert!(
        rooms
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "Three"),
        "{rooms}"
    );
    // The cap is per user.
    app.create_room(&other_token, "Three").await;
}
