//! An account's life: the export, deleting it (anonymised in place) and a guest claiming its name,
//! on both stores.

use serde_json::{json, Value};

use crate::helpers::{spawn_on, spawn_on_with, Closed, StoreKind, TestApp};
use crate::people::{register, PASSWORD};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn send(app: &TestApp, token: &str, room_id: &str, client_id: &str, body: &str) {
    let (status, reply) = app
        .post(
            &format!("/api/rooms/{room_id}/messages"),
            Some(token),
            json!({"client_id": client_id, "body": body}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
}

/// `DELETE /api/me` with a JSON body, or none.
async fn delete_me(app: &TestApp, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.http.delete(app.url("/api/me")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn export(app: &TestApp, token: &str) -> (String, Value) {
    let response = app
        .http
        .get(app.url("/api/me/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"));
    (text, value)
}

async fn the_export_holds_the_account_its_rooms_sessions_and_messages(store: StoreKind) {
    let app = spawn_on(store).await;
    let (body, token) = register(&app, "exporter").await;
    let id = body["user"]["id"].as_str().unwrap().to_string();
    app.patch(
        "/api/me",
        Some(&token),
        json!({"bio": "hello", "timezone": "Asia/Tokyo"}),
    )
    .await;
    let room = app.create_room(&token, "Export Room").await;
    send(&app, &token, &room.id, "c1", "first words").await;
    send(&app, &token, &room.id, "c2", "second words").await;
    // Someone else's message is not theirs to export.
    let (_, other) = app.guest("bystander").await;
    send(&app, &other, &room.id, "o1", "not yours").await;
    // What they did to others' messages and their settings are theirs: a reaction, a level.
    let (status, theirs) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&other),
            json!({"client_id": "o2", "body": "react to me"}),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let theirs = theirs["id"].as_str().unwrap().to_string();
    let react = format!(
        "/api/rooms/{}/messages/{theirs}/reactions/%F0%9F%91%8D",
        room.id
    );
    assert_eq!(app.put(&react, Some(&token)).await.0, 204);
    let (status, body) = palaver_client::rest::call(
        &app.http,
        reqwest::Method::PUT,
        &app.url(&format!("/api/rooms/{}/notifications", room.id)),
        Some(&token),
        Some(&json!({"level": "all"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{body}");
    let file = crate::files::uploaded(&app, &token, "notes.txt", b"my notes".to_vec()).await;

    let (text, export) = export(&app, &token).await;
    assert_eq!(
        export["reactions"],
        json!([{"room_id": room.id, "message_id": theirs, "emoji": "\u{1F44D}"}])
    );
    let levels = export["read_state"].as_array().unwrap();
    assert!(
        levels
            .iter()
            .any(|r| r["room_id"] == room.id.as_str() && r["notifications"] == "all"),
        "{levels:?}"
    );
    let files = export["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        (&files[0]["id"], &files[0]["name"], &files[0]["size"]),
        (&file["id"], &json!("notes.txt"), &json!(8))
    );
    assert_eq!(export["push_subscriptions"], json!([]));
    assert_eq!(export["user"]["id"], id.as_str());
    assert_eq!(
        (export["bio"].as_str(), export["timezone"].as_str()),
        (Some("hello"), Some("Asia/Tokyo"))
    );
    let rooms = export["memberships"].as_array().unwrap();
    assert!(rooms.iter().any(|m| m["room_id"] == room.id.as_str()
        && m["room_name"] == "Export Room"
        && m["role"] == "owner"
        && m["kind"] == "public"));
    let sessions = export["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    let bodies: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["first words", "second words"]);
    assert!(
        !text.contains("password") && !text.contains("token_hash") && !text.contains("$argon2")
    );
}

/// More messages than one page of the export: every one, once, in order.
async fn the_export_streams_every_message_across_pages(store: StoreKind) {
    let app = spawn_on_with(store, |c| c.rate_per_sec = 0).await;
    let (_, token) = register(&app, "prolific").await;
    let room = app.create_room(&token, "Many").await;
    let total = palaver::chat::people::EXPORT_PAGE as usize + 3;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    for i in 0..total {
        ws.send_message(&room.id, &format!("m{i}"), &format!("message {i}"))
            .await;
    }
    let (_, export) = export(&app, &token).await;
    let bodies: Vec<String> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..total).map(|i| format!("message {i}")).collect();
    assert_eq!(bodies, expected);
}

async fn a_deleted_account_is_anonymised_and_its_name_freed(store: StoreKind) {
    let app = spawn_on(store).await;
    let (body, token) = register(&app, "leaving").await;
    let id = body["user"]["id"].as_str().unwrap().to_string();
    let (_, watcher) = app.guest("watcher").await;
    let room = app.create_room(&watcher, "Goodbyes").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    send(&app, &token, &room.id, "bye", "so long").await;
    let mut socket = app.ws(&token).await;
    socket.expect("hello").await;
    let mut watching = app.ws(&watcher).await;
    watching.subscribe(&room.id, None).await;

    let (status, body) =
        delete_me(&app, &token, Some(json!({"password": "not the password"}))).await;
    assert_eq!((status, code(&body)), (403, "invalid_password"));
    let (status, body) = delete_me(&app, &token, None).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, _) = delete_me(&app, &token, Some(json!({"password": PASSWORD}))).await;
    assert_eq!(status, 204);

    // Signed out everywhere.
    assert_eq!(app.get("/api/me", Some(&token)).await.0, 401);
    assert_eq!(socket.expect_close().await, Closed::Code(1008));
    // The membership ended with an event; the room shows the anonymised person.
    let left = watching.expect_event("member.left").await;
    assert_eq!(left["user"]["id"], id.as_str());
    assert_eq!(left["user"]["display_name"], "Deleted user");
    let history = app.history(&watcher, &room.id).await;
    let kept = history
        .iter()
        .find(|m| m.body == "so long")
        .expect("the message stays");
    assert_eq!(kept.author.id, id);
    assert_eq!(kept.author.display_name.as_deref(), Some("Deleted user"));
    assert!(kept.author.username.starts_with("deleted-"));
    let (_, profile) = app.get(&format!("/api/users/{id}"), Some(&watcher)).await;
    assert_eq!(
        (profile["bio"].as_str(), profile["user"]["admin"].as_bool()),
        (Some(""), Some(false))
    );
    // Not in the directory; the name is free again, for anyone.
    let (_, found) = app.get("/api/users?q=leaving", Some(&watcher)).await;
    assert_eq!(found, json!([]));
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "leaving", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401);
    let (again, _) = register(&app, "leaving").await;
    assert_ne!(again["user"]["id"], id.as_str());

    // A guest needs no password.
    let (_, guest) = app.guest("brief").await;
    let (status, _) = delete_me(&app, &guest, None).await;
    assert_eq!(status, 204);
    assert_eq!(app.get("/api/me", Some(&guest)).await.0, 401);
}

async fn a_guest_claims_its_name(store: StoreKind) {
    let app = spawn_on(store).await;
    let (guest, token) = app.guest("wanderer").await;
    let (status, body) = app
        .post("/api/me/claim", Some(&token), json!({"password": "short"}))
        .await;
    assert_eq!((status, code(&body)), (400, "weak_password"));
    let (status, user) = app
        .post("/api/me/claim", Some(&token), json!({"password": PASSWORD}))
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        (
            user["id"].as_str(),
            user["username"].as_str(),
            user["guest"].as_bool()
        ),
        (Some(guest.id.as_str()), Some("wanderer"), Some(false))
    );
    // The session goes on as the account; the password signs in.
    let (_, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!(me["guest"], false);
    let (status, login) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "wanderer", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, login["user"]["id"].as_str()),
        (200, Some(guest.id.as_str()))
    );
    let (status, body) = app
        .post("/api/me/claim", Some(&token), json!({"password": PASSWORD}))
        .await;
    assert_eq!((status, code(&body)), (409, "not_a_guest"));
}

crate::both_stores!(
    the_export_holds_the_account_its_rooms_sessions_and_messages,
    the_export_streams_every_message_across_pages,
    a_deleted_account_is_anonymised_and_its_name_freed,
    a_guest_claims_its_name,
);
