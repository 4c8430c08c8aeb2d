//! Guests without bounds: a guest's name is kept while a session lives and for the grace after,
//! then anyone may take it; guest sign-ins are capped per address and per server. Both stores.

use serde_json::{json, Value};

use crate::helpers::{spawn_on_with, StoreKind};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn a_freed_guest_name_can_be_taken_after_the_grace(store: StoreKind) {
    let app = spawn_on_with(store, |c| c.guest_name_grace_secs = 0).await;
    let (first, token) = app.guest("drifter").await;
    let room = app.create_room(&token, "Drift").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&token),
            json!({"client_id": "d1", "body": "was here"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, watcher) = app.guest("watcher").await;

    // While the session lives the name is theirs, grace or not.
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "drifter"}))
        .await;
    assert_eq!((status, code(&body)), (409, "username_taken"));

    let (status, _) = app.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(status, 204);
    let (second, _) = app.guest("Drifter").await;
    assert_ne!(second.id, first.id, "a new guest, not the old one back");

    // The old guest's message stays attributed to it, under the name it was written with.
    let history = app.history(&watcher, &room.id).await;
    let kept = history.iter().find(|m| m.body == "was here").unwrap();
    assert_eq!(
        (kept.author.id.as_str(), kept.author.username.as_str()),
        (first.id.as_str(), "drifter")
    );
    // Its membership ended with an event; it is gone from the directory.
    let events = app.events(&watcher, &room.id, 0).await;
    let left = events.iter().any(|e| {
        let e = serde_json::to_value(e).unwrap();
        e["kind"] == "member.left" && e["user"]["id"] == first.id.as_str()
    });
    assert!(left, "{events:?}");
    let (_, found) = app.get("/api/users?q=drifter", Some(&watcher)).await;
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.id.as_str()]);

    // A registration may take a freed guest name too.
    let (_, third_token) = app.guest("nomad").await;
    app.post("/api/auth/logout", Some(&third_token), json!({}))
        .await;
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "nomad", "password": crate::people::PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn a_guest_name_is_kept_for_the_grace(store: StoreKind) {
    let app = spawn_on_with(store, |c| c.guest_name_grace_secs = 600).await;
    let (_, token) = app.guest("keeper").await;
    app.post("/api/auth/logout", Some(&token), json!({})).await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "keeper"}))
        .await;
    assert_eq!((status, code(&body)), (409, "username_taken"));
    // An account's name is never freed by the grace.
    let app = spawn_on_with(store, |c| c.guest_name_grace_secs = 0).await;
    let (_, token) = crate::people::register(&app, "settled").await;
    app.post("/api/auth/logout", Some(&token), json!({})).await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "settled"}))
        .await;
    assert_eq!((status, code(&body)), (409, "username_taken"));
}

async fn guest_sign_ins_are_capped_per_address_and_per_server(store: StoreKind) {
    let app = spawn_on_with(store, |c| {
        c.guests_per_address_per_min = 2;
        c.guests_per_min = 0;
    })
    .await;
    app.guest("first-one").await;
    app.guest("second-one").await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "third-one"}))
        .await;
    assert_eq!((status, code(&body)), (429, "rate_limited"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("your address"),
        "{body}"
    );
    // Registrations are not guests: not counted here.
    crate::people::register(&app, "registered").await;

    let app = spawn_on_with(store, |c| {
        c.guests_per_address_per_min = 0;
        c.guests_per_min = 1;
    })
    .await;
    app.guest("only-one").await;
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "one-more"}))
        .await;
    assert_eq!((status, code(&body)), (429, "rate_limited"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this server"),
        "{body}"
    );
}

/// No logout: the guest's session expires, and the sweep (every second here) expires the guest:
/// its membership ends with an event, its name leaves the directory.
async fn the_sweep_expires_guests_whose_sessions_ended(store: StoreKind) {
    let app = spawn_on_with(store, |c| {
        c.guest_name_grace_secs = 0;
        c.session_ttl_secs = 2;
        c.sweep_secs = 1;
    })
    .await;
    let (_, owner) = crate::people::register(&app, "roomkeeper").await;
    let room = app.create_room(&owner, "Sweep").await;
    let (guest, token) = app.guest("ephemeral").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    // Sessions here live 2 s: sign in afresh for each long poll of the room's log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut after = 0;
    let left = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not expire the guest"
        );
        let (status, login) = app
            .post(
                "/api/auth/login",
                None,
                json!({"username": "roomkeeper", "password": crate::people::PASSWORD}),
            )
            .await;
        assert_eq!(status, 200);
        let fresh = login["token"].as_str().unwrap();
        let path = format!("/api/rooms/{}/events?after={after}&wait=1", room.id);
        let (status, page) = app.get(&path, Some(fresh)).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        if let Some(e) = events
            .iter()
            .find(|e| e["kind"] == "member.left" && e["user"]["id"] == guest.id.as_str())
        {
            break e.clone();
        }
        after = page["last_seq"].as_u64().unwrap();
    };
    assert_eq!(left["user"]["username"], "ephemeral");
    let (status, login) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "roomkeeper", "password": crate::people::PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, found) = app
        .get("/api/users?q=ephemeral", login["token"].as_str())
        .await;
    assert_eq!(found, json!([]));
}

crate::both_stores!(
    the_sweep_expires_guests_whose_sessions_ended,
    a_freed_guest_name_can_be_taken_after_the_grace,
    a_guest_name_is_kept_for_the_grace,
    guest_sign_ins_are_capped_per_address_and_per_server,
);
