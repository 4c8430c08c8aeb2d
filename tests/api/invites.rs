//! Invites: who may make them, what a code shows, and accepting one: a use counted once per
//! person, atomically (two racing accepts of a last use: one wins), expiry.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_on, StoreKind, TestApp};
use crate::private_rooms::private_room;

async fn invite(app: &TestApp, token: &str, room: &str, body: Value) -> Value {
    let (status, invite) = app
        .post(&format!("/api/rooms/{room}/invites"), Some(token), body)
        .await;
    assert_eq!(status, 201, "{invite}");
    invite
}

fn code_of(status_and_body: (u16, Value)) -> (u16, String) {
    let (status, body) = status_and_body;
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

/// Moderators invite to a private room (members don't); a code is long, URL-safe, shown once;
/// it previews, admits, counts each person's use once, and is used up at `max_uses`.
async fn an_invite_admits_counts_uses_and_is_used_up(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = app.guest("alice").await;
    let (_, bob) = app.guest("bob").await;
    let (carol, carol_token) = app.guest("carol").await;
    let (_, dave) = app.guest("dave").await;
    let (_, erin) = app.guest("erin").await;
    let room = private_room(&app, &owner, "Invite Only").await;
    let id = room["id"].as_str().unwrap();
    app.post(
        &format!("/api/rooms/{id}/members"),
        Some(&owner),
        json!({"username": "bob"}),
    )
    .await;
    let (status, body) = app
        .post(&format!("/api/rooms/{id}/invites"), Some(&bob), json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "members don't invite"
    );
    for bad in [json!({"max_uses": 0}), json!({"expires_in_secs": 0})] {
        let (status, body) = app
            .post(
                &format!("/api/rooms/{id}/invites"),
                Some(&owner),
                bad.clone(),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let made = invite(&app, &owner, id, json!({"max_uses": 2})).await;
    let code = made["code"].as_str().unwrap();
    assert!(code.len() >= 22, "at least 128 bits: {code}");
    assert!(code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(made["url"], format!("/invite/{code}"));
    assert_eq!(made["max_uses"], 2);
    assert_eq!(made["expires_at"], Value::Null);

    let (status, preview) = app
        .get(&format!("/api/invites/{code}"), Some(&carol_token))
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["room"]["id"], id);
    assert_eq!(preview["room"]["member"], false);
    assert_eq!(
        (preview["uses"].clone(), preview["max_uses"].clone()),
        (json!(0), json!(2))
    );

    let accept = format!("/api/invites/{code}/accept");
    let (status, joined) = app.post(&accept, Some(&carol_token), json!({})).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(
        (joined["id"].as_str(), joined["member"].clone()),
        (Some(id), json!(true))
    );
    assert_eq!(joined["my_role"], "member");
    let last = serde_json::to_value(app.events(&owner, id, 0).await.pop().unwrap()).unwrap();
    assert_eq!(last["kind"], "member.joined");
    assert_eq!(last["user"]["id"], carol.id.as_str());
    // Accepting again (already a member) uses nothing.
    let (status, _) = app.post(&accept, Some(&carol_token), json!({})).await;
    assert_eq!(status, 200);
    let (_, preview) = app.get(&format!("/api/invites/{code}"), Some(&dave)).await;
    assert_eq!(preview["uses"], 1);

    let (status, _) = app.post(&accept, Some(&dave), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        code_of(app.post(&accept, Some(&erin), json!({})).await),
        (410, "invite_expired".into())
    );
    assert_eq!(
        code_of(app.get(&format!("/api/invites/{code}"), Some(&erin)).await),
        (410, "invite_expired".into())
    );
    // Erin is still outside.
    crate::private_rooms::assert_hidden(
        "erin after a used-up code",
        app.get(&format!("/api/rooms/{id}"), Some(&erin)).await,
    );
    for unknown in ["no-such-code", "bad code!", ""] {
        let (status, _) = app
            .get(&format!("/api/invites/{unknown}"), Some(&erin))
            .await;
        assert_eq!(status, 404, "{unknown:?}");
    }
    assert_eq!(
        code_of(
            app.post("/api/invites/no-such-code/accept", Some(&erin), json!({}))
                .await
        ),
        (404, "invite_not_found".into())
    );
    // Without signing in, nothing.
    let (status, _) = app.get(&format!("/api/invites/{code}"), None).await;
    assert_eq!(status, 401);

    // In a public room, anyone who may read it invites.
    let public = app.create_room(&owner, "Open House").await;
    let made = invite(&app, &erin, &public.id, json!({})).await;
    let (status, _) = app
        .post(
            &format!("/api/invites/{}/accept", made["code"].as_str().unwrap()),
            Some(&bob),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
}

/// An invite with `expires_in_secs` stops working once that time has passed (the test waits
/// for the clock, polling with a deadline, and asserts no timing).
async fn an_invite_expires(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = app.guest("alice").await;
    let (_, bob) = app.guest("bob").await;
    let room = private_room(&app, &owner, "Fleeting").await;
    let id = room["id"].as_str().unwrap();
    let made = invite(&app, &owner, id, json!({"expires_in_secs": 1})).await;
    let code = made["code"].as_str().unwrap();
    let expires_at = made["expires_at"].as_str().expect("an expiry");
    assert!(
        chrono::DateTime::parse_from_rfc3339(expires_at).is_ok(),
        "{expires_at}"
    );
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let (status, _) = app.get(&format!("/api/invites/{code}"), Some(&bob)).await;
        if status == 410 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the invite never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        code_of(
            app.post(
                &format!("/api/invites/{code}/accept"),
                Some(&bob),
                json!({})
            )
            .await
        ),
        (410, "invite_expired".into())
    );
    crate::private_rooms::assert_hidden(
        "bob",
        app.get(&format!("/api/rooms/{id}"), Some(&bob)).await,
    );
}

/// Two people accepting a single-use code at once: exactly one gets in.
async fn racing_accepts_of_a_last_use_let_one_in(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = app.guest("alice").await;
    let room = private_room(&app, &owner, "One Seat").await;
    let id = room["id"].as_str().unwrap();
    for round in 0..4 {
        let (_, a) = app.guest(&format!("racer-a{round}")).await;
        let (_, b) = app.guest(&format!("racer-b{round}")).await;
        let made = invite(&app, &owner, id, json!({"max_uses": 1})).await;
        let accept = format!("/api/invites/{}/accept", made["code"].as_str().unwrap());
        let (first, second) = tokio::join!(
            app.post(&accept, Some(&a), json!({})),
            app.post(&accept, Some(&b), json!({}))
        );
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 410], "round {round}: {first:?} {second:?}");
    }
    let (_, members) = app
        .get(&format!("/api/rooms/{id}/members"), Some(&owner))
        .await;
    assert_eq!(
        members.as_array().unwrap().len(),
        5,
        "the owner and one per round"
    );
}

/// An invite's `url` is a page of the web UI: the server answers it with the UI's page.
#[tokio::test]
async fn an_invite_url_is_a_page_of_the_ui() {
    let app = crate::helpers::spawn_app().await;
    let (_, owner) = app.guest("alice").await;
    let room = app.create_room(&owner, "Linked").await;
    let made = invite(&app, &owner, &room.id, json!({})).await;
    let resp = app
        .http
        .get(app.url(made["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/html"), "{kind}");
}

crate::both_stores!(
    an_invite_admits_counts_uses_and_is_used_up,
    an_invite_expires,
    racing_accepts_of_a_last_use_let_one_in,
);
