//! The rules of issue 3 over the real server: who may change what, the long-poll fallback and
//! the abuse limits. Each bad request gets its code and changes nothing.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, spawn_with, Closed, WsClient};

#[tokio::test]
async fn only_the_author_edits_and_others_cannot_delete_or_clear() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("owner").await;
    let (_, alice) = app.guest("alice").await;
    let (_, mallory) = app.guest("mallory").await;
    let room = app.create_room(&owner, "Rules").await;
    let path = format!("/api/rooms/{}/messages", room.id);
    let (_, message) = app
        .post(
            &path,
            Some(&alice),
            json!({"client_id": "a1", "body": "mine"}),
        )
        .await;
    let id = message["id"].as_str().unwrap();
    let msg_path = format!("{path}/{id}");

    let (status, body) = app
        .patch(&msg_path, Some(&mallory), json!({"body": "hacked"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    let (status, body) = app.delete(&msg_path, Some(&mallory)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/clear", room.id),
            Some(&mallory),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    let history = app.history(&owner, &room.id).await;
    assert_eq!(
        (
            history.len(),
            history[0].body.as_str(),
            history[0].edited_at.is_none()
        ),
        (1, "mine", true)
    );

    let (status, edited) = app
        .patch(&msg_path, Some(&alice), json!({"body": "mine, fixed"}))
        .await;
    assert_eq!(
        (status, edited["body"].as_str()),
        (200, Some("mine, fixed"))
    );
    assert!(edited["edited_at"].is_string());
    // The owner may delete anyone's message.
    let (status, _) = app.delete(&msg_path, Some(&owner)).await;
    assert_eq!(status, 204);
    assert!(app.history(&owner, &room.id).await.is_empty());
    let kinds: Vec<&str> = app
        .events(&owner, &room.id, 0)
        .await
        .iter()
        .map(|e| e.kind.name())
        .collect::<Vec<_>>();
    assert_eq!(kinds.last(), Some(&"message.deleted"));
}

async fn bodies(app: &crate::helpers::TestApp, token: &str, room_id: &str) -> Vec<String> {
    app.history(token, room_id)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn bad_moves_get_their_codes_and_the_rearrange_setting_holds() {
    let app = spawn_with(|c| c.rate_per_sec = 0).await;
    let (_, owner) = app.guest("owner").await;
    let (_, member) = app.guest("member").await;
    let room = app.create_room(&owner, "Order").await;
    let other = app.create_room(&owner, "Elsewhere").await;
    let send = |room_id: String, token: String, cid: &'static str| {
        let app = &app;
        async move {
            let (_, m) = app
                .post(
                    &format!("/api/rooms/{room_id}/messages"),
                    Some(&token),
                    json!({"client_id": cid, "body": cid}),
                )
                .await;
            m["id"].as_str().unwrap().to_string()
        }
    };
    let a = send(room.id.clone(), member.clone(), "a").await;
    let b = send(room.id.clone(), member.clone(), "b").await;
    let foreign = send(other.id.clone(), member.clone(), "f").await;
    let move_path = |id: &str| format!("/api/rooms/{}/messages/{id}/move", room.id);

    let (status, body) = app
        .post(&move_path(&foreign), Some(&member), json!({"after": null}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (404, "message_not_found")
    );
    let (status, body) = app
        .post(
            &move_path(&b),
            Some(&member),
            json!({"after": "no-such-message"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (404, "message_not_found")
    );
    let (status, body) = app.post(&move_path(&b), Some(&member), json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "invalid_request")
    );
    assert_eq!(bodies(&app, &owner, &room.id).await, ["a", "b"]);

    let (status, moved) = app
        .post(&move_path(&b), Some(&member), json!({"after": null}))
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(bodies(&app, &owner, &room.id).await, ["b", "a"]);

    let room_path = format!("/api/rooms/{}", room.id);
    let (status, body) = app
        .patch(&room_path, Some(&owner), json!({"rearrange": "everyone"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "invalid_request")
    );
    let (status, body) = app
        .patch(&room_path, Some(&member), json!({"rearrange": "nobody"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    let (_, unchanged) = app.get(&room_path, Some(&owner)).await;
    assert_eq!(unchanged["rearrange"], "anyone");

    let (status, changed) = app
        .patch(&room_path, Some(&owner), json!({"rearrange": "moderators"}))
        .await;
    assert_eq!(
        (status, changed["rearrange"].as_str()),
        (200, Some("moderators"))
    );
    let (status, body) = app
        .post(&move_path(&a), Some(&member), json!({"after": null}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    let (status, _) = app
        .post(&move_path(&a), Some(&owner), json!({"after": null}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(bodies(&app, &owner, &room.id).await, ["a", "b"]);
}

#[tokio::test]
async fn a_long_poll_returns_when_an_event_arrives_and_pollers_converse_with_sockets() {
    let app = spawn_app().await;
    let (_, poller) = app.guest("poller").await;
    let (_, socketeer) = app.guest("socketeer").await;
    let room = app.create_room(&poller, "Fallback").await;
    let mut ws = app.ws(&socketeer).await;
    let (_, subscribed) = ws.subscribe(&room.id, None).await;
    let after = subscribed["last_seq"].as_u64().unwrap();

    // Nothing happens: an empty page after `wait`.
    let (status, page) = app
        .get(
            &format!("/api/rooms/{}/events?after={after}&wait=1", room.id),
            Some(&poller),
        )
        .await;
    assert_eq!((status, page["events"].as_array().unwrap().len()), (200, 0));
    let (status, body) = app
        .get(
            &format!("/api/rooms/{}/events?after=0&wait=31", room.id),
            Some(&poller),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "invalid_request")
    );

    // A poll waiting 25 s answers as soon as the socket client speaks.
    let url = app.url(&format!(
        "/api/rooms/{}/events?after={after}&wait=25",
        room.id
    ));
    let poll = tokio::spawn(app.http.get(url).bearer_auth(&poller).send());
    ws.send_message(&room.id, "s1", "hello from the socket")
        .await;
    let page: serde_json::Value = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the poll answers before its wait ends")
        .unwrap()
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "message.created")
        .unwrap();
    assert_eq!(event["message"]["body"], "hello from the socket");

    // And back: the poller sends over REST, the socket client sees it.
    app.post(
        &format!("/api/rooms/{}/messages", room.id),
        Some(&poller),
        json!({"client_id": "p1", "body": "hello from the poller"}),
    )
    .await;
    assert_eq!(
        ws.expect_event("message.created").await["message"]["body"],
        "hello from the poller"
    );
}

#[tokio::test]
async fn a_user_past_the_message_rate_gets_rate_limited_and_nothing_is_stored() {
    let app = spawn_with(|c| {
        c.rate_burst = 3;
        c.rate_per_sec = 1;
    })
    .await;
    let (_, token) = app.guest("chatty").await;
    let room = app.create_room(&token, "Limited").await;
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    for i in 0..3 {
        assert_eq!(
            ws.send_message(&room.id, &format!("ok{i}"), "fine").await["type"],
            "ack"
        );
    }
    let refused = ws.send_message(&room.id, "too-many", "one too many").await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("rate_limited"))
    );
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&token),
            json!({"client_id": "rest", "body": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (429, "rate_limited")
    );
    let bodies: Vec<String> = app
        .history(&token, &room.id)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies, ["fine", "fine", "fine"]);
}

#[tokio::test]
async fn login_attempts_are_limited_per_username_and_sign_ins_per_address() {
    let app = spawn_with(|c| c.login_per_user_per_min = 3).await;
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "target", "password": "tangerine-otter-42"}),
    )
    .await;
    for _ in 0..3 {
        let (status, _) = app
            .post(
                "/api/auth/login",
                None,
                json!({"username": "target", "password": "guess123"}),
            )
            .await;
        assert_eq!(status, 401);
    }
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "TARGET", "password": "tangerine-otter-42"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (429, "rate_limited")
    );

    let app = spawn_with(|c| c.login_per_address_per_min = 2).await;
    app.guest("first").await;
    app.guest("second").await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "third"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (429, "rate_limited")
    );
}

#[tokio::test]
async fn connections_and_rooms_per_user_are_capped() {
    let app = spawn_with(|c| {
        c.max_connections_per_user = 2;
        c.max_rooms_per_user = 2;
    })
    .await;
    let (_, token) = app.guest("hoarder").await;
    let mut first = app.ws(&token).await;
    first.expect("hello").await;
    let mut second = app.ws(&token).await;
    second.expect("hello").await;
    let mut third = WsClient::connect(&app.addr, Some(&token), None)
        .await
        .unwrap();
    assert_eq!(third.next().await["code"], "too_many_connections");
    assert_eq!(third.expect_close().await, Closed::Code(1008));
    // Closing one frees a place.
    first.close().await;
    let mut again = None;
    for _ in 0..50 {
        let mut ws = WsClient::connect(&app.addr, Some(&token), None)
            .await
            .unwrap();
        if ws.next().await["type"] == "hello" {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a place was freed");

    app.create_room(&token, "One").await;
    app.create_room(&token, "Two").await;
    let (status, body) = app
        .post("/api/rooms", Some(&token), json!({"name": "Three"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "too_many_rooms")
    );
}
