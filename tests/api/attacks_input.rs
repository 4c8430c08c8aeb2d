//! Issue 23, "Palaver under attack", the input rules: names that deceive, seq bounds, duplicate
//! keys on the socket, weak passwords, invisible bodies, and the bounds the OpenAPI document
//! states. (The transport half is `attacks.rs`.)

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_with};
use crate::pgdb;

// Item 5: names that deceive.

#[tokio::test]
async fn room_names_that_deceive_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.guest("namer").await;
    let create = |name: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let (status, body) = app
                .post("/api/rooms", Some(&token), json!({"name": name}))
                .await;
            (status, body)
        }
    };
    let (status, body) = create("G\u{435}neral").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("room_name_taken"))
    );
    for invisible in [
        "General\u{200b}",
        "\u{202e}lareneG",
        "\u{200b}",
        "Ra\u{2066}ndom x",
    ] {
        let (status, body) = create(invisible).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_room_name")),
            "{invisible:?}"
        );
    }
    let (status, body) = create("Cafe\u{301}").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "Caf\u{e9}", "stored in NFC");
    let (status, _) = create("Caf\u{e9}").await;
    assert_eq!(status, 409);
    // Renaming into a look-alike is refused too; keeping one's own name is fine.
    let room_id = body["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{room_id}"),
            Some(&token),
            json!({"name": "Genera1"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{room_id}"),
            Some(&token),
            json!({"name": "Cafe\u{301}"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn usernames_that_deceive_and_staff_names_are_refused() {
    let app = spawn_app().await;
    app.guest("alice").await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "aIice"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("username_taken"))
    );
    let (status, _) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "aIice", "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(status, 409);
    for staff in ["admin", "Root", "SYSTEM", "palaver", "moderator", "adrnin"] {
        let (status, body) = app
            .post("/api/auth/guest", None, json!({"username": staff}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_username")),
            "{staff}"
        );
    }
}

/// Each node keeps the usernames it has seen and reads only the newer ones on a sign-up: a
/// name made on another node sharing the database, after this node last looked, still counts.
#[tokio::test]
async fn a_look_alike_of_a_name_made_on_another_node_is_refused() {
    let db = pgdb::TestDatabase::create().await;
    let (url_a, url_b) = (db.url.clone(), db.url.clone());
    let mut a = spawn_with(move |c| c.database_url = Some(url_a)).await;
    let mut b = spawn_with(move |c| c.database_url = Some(url_b)).await;
    a.guest("first").await; // node a has read every username
    b.guest("alice").await;
    let (status, body) = a
        .post("/api/auth/guest", None, json!({"username": "aIice"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("username_taken"))
    );
    a.guest("carol").await;
    let (status, _) = b
        .post("/api/auth/guest", None, json!({"username": "caroI"}))
        .await;
    assert_eq!(status, 409, "and the other way round");
    a.stop().await;
    b.stop().await;
}

// Items 7 and 8: seq bounds and duplicate keys on the socket.

#[tokio::test]
async fn after_beyond_two_to_the_63_is_refused_on_rest_and_on_the_socket() {
    let app = spawn_app().await;
    let (_, token) = app.guest("seeker").await;
    let room = app.create_room(&token, "Seq").await;
    let path = |after: &str| format!("/api/rooms/{}/events?after={after}", room.id);
    let (status, body) = app.get(&path("9223372036854775808"), Some(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _) = app.get(&path("18446744073709551615"), Some(&token)).await;
    assert_eq!(status, 400);
    let (status, body) = app.get(&path("9223372036854775807"), Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(0));

    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    ws.send(
        json!({"type": "subscribe", "room_id": room.id, "after": 9223372036854775808u64, "ref": 1}),
    )
    .await;
    let frame = ws.next().await;
    assert_eq!(
        (frame["type"].as_str(), frame["code"].as_str()),
        (Some("error"), Some("invalid_request")),
        "{frame}"
    );
    assert_eq!(frame["ref"], 1);
}

#[tokio::test]
async fn duplicate_keys_on_the_socket_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.guest("dupe").await;
    let room = app.create_room(&token, "Dupes").await;
    let mut ws = app.ws(&token).await;
    ws.expect("hello").await;
    let id = &room.id;
    ws.send_text(&format!(
        r#"{{"type":"ping","type":"send","room_id":"{id}","client_id":"d1","body":"sneaky"}}"#
    ))
    .await;
    assert_eq!(ws.expect("error").await["code"], "invalid_json");
    ws.send_text(&format!(
        r#"{{"type":"send","room_id":"{id}","client_id":"d2","body":"A","body":"B"}}"#
    ))
    .await;
    assert_eq!(ws.expect("error").await["code"], "invalid_json");
    ws.send(json!({"type": "ping", "ref": "after"})).await;
    assert_eq!(ws.expect("pong").await["ref"], "after");
    assert!(
        app.history(&token, &room.id).await.is_empty(),
        "nothing was sent"
    );
}

// Item 9: passwords.

#[tokio::test]
async fn weak_passwords_are_refused_and_passwords_are_normalised() {
    let app = spawn_app().await;
    let register = |username: &'static str, password: String| {
        let app = &app;
        async move {
            app.post(
                "/api/auth/register",
                None,
                json!({"username": username, "password": password}),
            )
            .await
        }
    };
    for weak in [
        "password",
        "12345678",
        "        ",
        "\0\0\0\0\0\0\0\0",
        "carolinesmith",
    ] {
        let (status, body) = register("carolinesmith", weak.to_string()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("weak_password")),
            "{weak:?}"
        );
    }
    // Registered in NFC, typed in NFD: the same password (RFC 8265 OpaqueString).
    let nfc = "cr\u{e8}me br\u{fb}l\u{e9}e sous la pluie";
    let nfd = "cre\u{300}me bru\u{302}le\u{301}e sous la pluie";
    let (status, body) = register("carolinesmith", nfc.to_string()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "carolinesmith", "password": nfd}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

// Item 10: the small ones that are input rules.

#[tokio::test]
async fn invisible_and_nul_bodies_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.guest("ghost").await;
    let room = app.create_room(&token, "Ghosts").await;
    let path = format!("/api/rooms/{}/messages", room.id);
    for (body, code) in [
        ("\0\0\0", "invalid_body"),
        ("a\0b", "invalid_body"),
        ("\u{200b}\u{200b}", "body_empty"),
        ("\u{2060}\u{feff}\u{200d}", "body_empty"),
    ] {
        let (status, answer) = app
            .post(&path, Some(&token), json!({"client_id": "g", "body": body}))
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body:?}"
        );
    }
    assert!(app.history(&token, &room.id).await.is_empty());
}

// Item 11 (a start): the OpenAPI document states the query bounds the server enforces.

#[tokio::test]
async fn the_openapi_document_states_the_query_bounds() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} {name}"))["schema"]
            .clone()
    };
    let history = param("/api/rooms/{room_id}/messages", "limit");
    assert_eq!(
        (history["minimum"].as_f64(), history["maximum"].as_f64()),
        (Some(1.0), Some(200.0))
    );
    let events = "/api/rooms/{room_id}/events";
    let limit = param(events, "limit");
    assert_eq!(
        (limit["minimum"].as_f64(), limit["maximum"].as_f64()),
        (Some(1.0), Some(1000.0))
    );
    assert_eq!(param(events, "wait")["maximum"].as_f64(), Some(30.0));
    assert_eq!(
        param(events, "after")["maximum"].as_f64(),
        Some(9223372036854775807.0)
    );
    let login = &doc["paths"]["/api/auth/login"]["post"]["responses"];
    assert!(login.get("400").is_some(), "login documents 400");
    let patch = &doc["paths"]["/api/rooms/{room_id}"]["patch"]["responses"];
    assert!(patch.get("409").is_some(), "room PATCH documents 409");
}
