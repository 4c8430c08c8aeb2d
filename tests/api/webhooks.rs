//! Incoming webhooks on both stores: a post to the secret URL arrives in its room (and at its
//! subscribers) as the webhook's own bot user, with no other authentication; a wrong secret or a
//! deleted webhook is `webhook_not_found`; cookies are not credentials there; posts are rate
//! limited per webhook; only the room's moderators manage its webhooks.

use serde_json::{json, Value};

use crate::bots::person;
use crate::helpers::{spawn_on, spawn_on_with, StoreKind, TestApp};

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or(""))
}

/// A new webhook of the room: its answer (with `url`).
async fn webhook(app: &TestApp, token: &str, room_id: &str, name: &str) -> Value {
    let path = format!("/api/rooms/{room_id}/webhooks");
    let (status, body) = app.post(&path, Some(token), json!({ "name": name })).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// A post to a webhook's URL with no credentials at all.
async fn post_hook(app: &TestApp, url: &str, body: Value) -> (u16, Value) {
    app.post(url, None, body).await
}

async fn a_webhook_post_arrives_in_its_room(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "hookowner").await;
    let room = app.create_room(&owner, "Builds").await;
    let mut ws = app.ws(&owner).await;
    ws.subscribe(&room.id, None).await;

    let hook = webhook(&app, &owner, &room.id, "ci-hook").await;
    let url = hook["url"].as_str().unwrap();
    let id = hook["id"].as_str().unwrap();
    assert!(url.starts_with(&format!("/hooks/{id}/")), "{url}");
    let secret = url.rsplit('/').next().unwrap();
    assert!(secret.len() >= 22, "at least 128 bits: {secret}");
    assert_eq!(hook["user"]["bot"], true);
    assert_eq!(hook["user"]["username"], "ci-hook");

    let (status, message) = post_hook(&app, url, json!({"body": "build 42 is green"})).await;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["author"]["username"], "ci-hook");
    assert_eq!(message["room_id"], room.id.as_str());
    let event = ws.expect_event("message.created").await;
    assert_eq!(event["message"]["body"], "build 42 is green");
    assert_eq!(event["message"]["author"]["bot"], true);

    // Idempotent with a client_id; the body rules of every message.
    let retry = json!({"body": "deploy done", "client_id": "deploy-7"});
    assert_eq!(post_hook(&app, url, retry.clone()).await.0, 201);
    let (status, again) = post_hook(&app, url, retry).await;
    assert_eq!((status, again["body"].clone()), (200, json!("deploy done")));
    let answer = post_hook(&app, url, json!({"body": "   "})).await;
    assert_eq!(code(&answer), (400, "body_empty"));
    let long = "x".repeat(4001);
    assert_eq!(
        code(&post_hook(&app, url, json!({ "body": long })).await),
        (400, "body_too_long")
    );

    // The list holds no secret.
    let (status, list) = app
        .get(&format!("/api/rooms/{}/webhooks", room.id), Some(&owner))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], id);
    assert!(list[0].get("url").is_none() && !list.to_string().contains(secret));
}

async fn wrong_secrets_and_deleted_webhooks_are_not_found(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = person(&app, "revoker").await;
    let room = app.create_room(&owner, "Alerts").await;
    let hook = webhook(&app, &owner, &room.id, "alerts-hook").await;
    let url = hook["url"].as_str().unwrap().to_string();
    let id = hook["id"].as_str().unwrap();
    let body = json!({"body": "disk full"});

    let wrong = format!("/hooks/{id}/{}", "A".repeat(43));
    assert_eq!(
        code(&post_hook(&app, &wrong, body.clone()).await),
        (404, "webhook_not_found")
    );
    let unknown = url.replace(id, "00000000000000000000000000000000");
    assert_eq!(
        code(&post_hook(&app, &unknown, body.clone()).await),
        (404, "webhook_not_found")
    );

    // Cookies are no credential here: the owner's session cookie with a wrong secret is refused,
    // and a foreign Origin with the right secret is fine (nothing ambient to forge).
    let answer = app
        .http
        .post(app.url(&wrong))
        .header("cookie", format!("palaver_session={owner}"))
        .header("origin", "http://127.0.0.1:1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let answer = app
        .http
        .post(app.url(&url))
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);

    let path = format!("/api/rooms/{}/webhooks/{id}", room.id);
    assert_eq!(app.delete(&path, Some(&owner)).await.0, 204);
    assert_eq!(
        code(&post_hook(&app, &url, body.clone()).await),
        (404, "webhook_not_found")
    );
    assert_eq!(
        code(&app.delete(&path, Some(&owner)).await),
        (404, "webhook_not_found")
    );
    let events = app.events(&owner, &room.id, 0).await;
    assert!(matches!(&events.last().unwrap().kind,
        palaver::protocol::EventKind::MemberLeft { user } if user.id == hook["user"]["id"]));

    // A deleted room's webhook is gone too.
    let other = app.create_room(&owner, "Doomed").await;
    let hook = webhook(&app, &owner, &other.id, "doomed-hook").await;
    assert_eq!(
        app.delete(&format!("/api/rooms/{}", other.id), Some(&owner))
            .await
            .0,
        204
    );
    let answer = post_hook(&app, hook["url"].as_str().unwrap(), body).await;
    assert_eq!(code(&answer), (404, "webhook_not_found"));
}

async fn webhook_posts_are_rate_limited_per_webhook(store: StoreKind) {
    let app = spawn_on_with(store, |config| {
        config.webhook_rate_burst = 2;
        config.webhook_rate_per_min = 1;
    })
    .await;
    let (_, owner) = person(&app, "flooder").await;
    let room = app.create_room(&owner, "Noisy").await;
    let first = webhook(&app, &owner, &room.id, "noisy-hook").await;
    let second = webhook(&app, &owner, &room.id, "quiet-hook").await;
    let url = first["url"].as_str().unwrap();
    for n in 0..2 {
        let (status, _) = post_hook(&app, url, json!({ "body": format!("post {n}") })).await;
        assert_eq!(status, 201);
    }
    let answer = post_hook(&app, url, json!({"body": "one too many"})).await;
    assert_eq!(code(&answer), (429, "rate_limited"));
    // Another webhook has its own allowance.
    let (status, _) = post_hook(&app, second["url"].as_str().unwrap(), json!({"body": "hi"})).await;
    assert_eq!(status, 201);
    let refused = app
        .history(&owner, &room.id)
        .await
        .iter()
        .any(|m| m.body == "one too many");
    assert!(!refused, "a refused post is not stored");
}

async fn only_moderators_manage_webhooks(store: StoreKind) {
    let app = spawn_on(store).await;
    // The install's first account is its site admin; the room owner here is a second one.
    let (_, admin) = person(&app, "siteadmin").await;
    let (_, owner) = person(&app, "roomowner").await;
    let (_, member) = app.guest("plainmember").await;
    let room = app.create_room(&owner, "Guarded").await;
    app.post(
        &format!("/api/rooms/{}/join", room.id),
        Some(&member),
        json!({}),
    )
    .await;
    let path = format!("/api/rooms/{}/webhooks", room.id);
    let answer = app
        .post(&path, Some(&member), json!({"name": "sneaky-hook"}))
        .await;
    assert_eq!(code(&answer), (403, "forbidden"));
    assert_eq!(
        code(&app.get(&path, Some(&member)).await),
        (403, "forbidden")
    );
    let hook = webhook(&app, &owner, &room.id, "real-hook").await;
    let one = format!("{path}/{}", hook["id"].as_str().unwrap());
    assert_eq!(
        code(&app.delete(&one, Some(&member)).await),
        (403, "forbidden")
    );
    // A room nobody owns (a default room): not for people who aren't site admins.
    let (_, rooms) = app.get("/api/rooms", Some(&owner)).await;
    let general = rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "General")
        .unwrap();
    let path = format!("/api/rooms/{}/webhooks", general["id"].as_str().unwrap());
    let answer = app
        .post(&path, Some(&owner), json!({"name": "general-hook"}))
        .await;
    assert_eq!(code(&answer), (403, "forbidden"));
    // …but for a site admin it is.
    let answer = app
        .post(&path, Some(&admin), json!({"name": "general-hook"}))
        .await;
    assert_eq!(
        answer.0, 201,
        "a site admin manages a default room's webhooks"
    );
    // Unknown rooms, bad and taken names.
    let answer = app
        .post(
            "/api/rooms/nope/webhooks",
            Some(&owner),
            json!({"name": "x-hook"}),
        )
        .await;
    assert_eq!(code(&answer), (404, "room_not_found"));
    let hooks = format!("/api/rooms/{}/webhooks", room.id);
    let answer = app.post(&hooks, Some(&owner), json!({"name": "a b"})).await;
    assert_eq!(code(&answer), (400, "invalid_username"));
    let answer = app
        .post(&hooks, Some(&owner), json!({"name": "PlainMember"}))
        .await;
    assert_eq!(code(&answer), (409, "username_taken"));
    assert_eq!(code(&app.get(&hooks, None).await), (401, "unauthenticated"));
}

crate::both_stores!(
    a_webhook_post_arrives_in_its_room,
    wrong_secrets_and_deleted_webhooks_are_not_found,
    webhook_posts_are_rate_limited_per_webhook,
    only_moderators_manage_webhooks,
);
