//! Every bad frame of API.md's error list gets its code, stores nothing, and the socket stays open.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::{spawn_app, spawn_with, Closed};

#[tokio::test]
async fn every_bad_frame_gets_its_code_and_stores_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.guest("mallory").await;
    let (_, owner) = app.guest("owner").await;
    let room = app.create_room(&owner, "Target").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    ws.subscribe(&room.id, None).await;
    let last_seq_before = app.events(&owner, &room.id, 0).await.len();

    let long = "x".repeat(4001);
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid_json"),
        ("[1, 2, 3]".into(), "invalid_frame"),
        (json!({"room_id": room.id}).to_string(), "invalid_frame"),
        (json!({"type": 12}).to_string(), "invalid_frame"),
        (
            json!({"type": "shout", "ref": 1}).to_string(),
            "unknown_type",
        ),
        (
            json!({"type": "send", "room_id": room.id, "body": "no client id"}).to_string(),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "room_id": room.id, "client_id": 5, "body": "x"}).to_string(),
            "invalid_frame",
        ),
        (
            json!({"type": "send", "room_id": room.id, "client_id": "e1", "body": "   "})
                .to_string(),
            "body_empty",
        ),
        (
            json!({"type": "send", "room_id": room.id, "client_id": "e2", "body": long})
                .to_string(),
            "body_too_long",
        ),
        (
            json!({"type": "send", "room_id": "no-such-room", "client_id": "e3", "body": "hi"})
                .to_string(),
            "room_not_found",
        ),
        (
            json!({"type": "subscribe", "room_id": "no-such-room"}).to_string(),
            "room_not_found",
        ),
        (json!({"type": "subscribe"}).to_string(), "invalid_frame"),
        (
            json!({"type": "edit", "room_id": room.id, "message_id": "nope", "body": "x"})
                .to_string(),
            "message_not_found",
        ),
        (
            json!({"type": "delete", "room_id": room.id, "message_id": "nope"}).to_string(),
            "message_not_found",
        ),
        (
            json!({"type": "clear", "room_id": room.id}).to_string(),
            "forbidden",
        ),
    ];
    for (i, (text, code)) in cases.iter().enumerate() {
        ws.send_text(text).await;
        let error = ws.expect("error").await;
        assert_eq!(error["code"], *code, "frame {i}: {text} → {error}");
        assert!(error["message"].is_string());
    }
    // A bad send names its client_id so the client can mark that message failed.
    ws.send(
        json!({"type": "send", "room_id": room.id, "client_id": "named", "body": "", "ref": "r1"}),
    )
    .await;
    let error = ws.expect("error").await;
    assert_eq!(
        (error["client_id"].as_str(), error["ref"].as_str()),
        (Some("named"), Some("r1"))
    );

    // Binary frames are refused too, and the socket is still open and working.
    ws.send_raw(WsMessage::binary(vec![1, 2, 3])).await;
    assert_eq!(ws.expect("error").await["code"], "invalid_frame");
    ws.send(json!({"type": "ping", "ref": "still-here"})).await;
    assert_eq!(ws.expect("pong").await["ref"], "still-here");

    assert!(app.history(&owner, &room.id).await.is_empty());
    assert_eq!(app.events(&owner, &room.id, 0).await.len(), last_seq_before);
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_with_1009() {
    let app = spawn_with(|c| c.ws_max_message_bytes = 8 * 1024).await;
    let (_, token) = app.guest("bigmouth").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    let huge = json!({"type": "ping", "ref": "y".repeat(9 * 1024)}).to_string();
    ws.send_text(&huge).await;
    assert_eq!(ws.expect_close().await, Closed::Code(1009));
}

#[tokio::test]
async fn rest_bodies_that_are_not_json_are_refused_clearly() {
    let app = spawn_app().await;
    let (_, token) = app.guest("former").await;
    let resp = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(&token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=Sneaky")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    let resp = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");
}

/// Every body is a JSON object: serde would read a struct from an array of its fields in order
/// (`[null, null]` changed nothing but answered 200; `["Sneaky"]` made a room). Found by the
/// schema-driven fuzz (scripts/test-openapi.sh).
#[tokio::test]
async fn bodies_that_are_json_arrays_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.guest("arrayed").await;
    let room = app.create_room(&token, "Arrayed").await;
    for (method, path, body) in [
        ("PATCH", format!("/api/rooms/{}", room.id), "[null, null]"),
        ("POST", "/api/rooms".to_string(), "[\"Sneaky\"]"),
        (
            "POST",
            format!("/api/rooms/{}/messages", room.id),
            "[\"c-1\", \"hi\"]",
        ),
        ("POST", "/api/auth/guest".to_string(), " [\"someone\"]"),
    ] {
        let resp = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{method} {path} {body}");
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            answer["error"]["code"], "invalid_request",
            "{method} {path}"
        );
    }
    let (_, rooms) = app.get("/api/rooms", Some(&token)).await;
    assert!(rooms
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] != "Sneaky"));
    assert!(app.history(&token, &room.id).await.is_empty());
    // A JSON type of its own (`+json`) and parameters are still JSON.
    let resp = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(&token)
        .header(
            "Content-Type",
            "application/merge-patch+json; charset=utf-8",
        )
        .body("{\"name\": \"Typed\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}
