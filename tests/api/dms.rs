//! DMs: one room per set of people (in any order, any case, even when opened at once), of up
//! to 8 people, fixed: nobody joins, leaves, is added or invited; to anyone else they don't
//! exist.

use serde_json::{json, Value};

use crate::helpers::{spawn_on, StoreKind, TestApp};
use crate::private_rooms::{assert_no_room_list_before_pong, assert_unreachable};

async fn open(app: &TestApp, token: &str, names: &[&str]) -> (u16, Value) {
    app.post("/api/dms", Some(token), json!({"usernames": names}))
        .await
}

async fn a_dm_is_one_room_per_set_of_people(store: StoreKind) {
    let app = spawn_on(store).await;
    let (alice, alice_token) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (_, carol) = app.guest("carol").await;
    let mut bob_ws = app.ws(&bob_token).await;
    let mut carol_ws = app.ws(&carol).await;
    bob_ws.expect("hello").await;
    carol_ws.expect("hello").await;

    let (status, dm) = open(&app, &alice_token, &["bob"]).await;
    assert_eq!(status, 201, "{dm}");
    let id = dm["id"].as_str().unwrap().to_string();
    assert_eq!(dm["kind"], "direct");
    assert_eq!(dm["name"], "alice, bob");
    assert_eq!(dm["owner_id"], Value::Null);
    assert_eq!(
        (dm["member"].clone(), dm["my_role"].clone()),
        (json!(true), json!("member"))
    );
    assert_eq!(dm["member_count"], 2);
    // Bob hears of it; carol doesn't.
    bob_ws
        .expect_with("bob's room_list", |f| {
            (f["type"] == "room_list" && f["room"]["id"] == id.as_str()).then_some(())
        })
        .await;
    assert_no_room_list_before_pong(&mut carol_ws, &id).await;

    // The same people, from the other side, in another case: the same room.
    let (status, again) = open(&app, &bob_token, &["ALICE"]).await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));
    let (status, again) = open(&app, &alice_token, &["bob", "alice", "Bob"]).await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));
    // Another set of people: another DM, whose name takes no public room's name.
    let (status, group) = open(&app, &alice_token, &["carol", "bob"]).await;
    assert_eq!(status, 201, "{group}");
    assert_ne!(group["id"], id.as_str());
    assert_eq!(group["name"], "alice, bob, carol");
    app.create_room(&carol, "alice, bob").await;

    // Both read it and post in it; it is in both lists, not in carol's.
    bob_ws.subscribe(&id, None).await;
    let ack = bob_ws.send_message(&id, "d1", "hi alice").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(app.history(&alice_token, &id).await.len(), 1);
    for token in [&alice_token, &bob_token] {
        let (_, rooms) = app.get("/api/rooms", Some(token)).await;
        assert!(rooms
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str()));
    }
    let events = app.events(&alice_token, &id, 0).await;
    let joined: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            palaver::protocol::EventKind::MemberJoined { user } => Some(user.id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(joined.len(), 2);
    assert!(joined.contains(&alice.id) && joined.contains(&bob.id));

    // To carol it doesn't exist, on any path.
    let message = ack["message"]["id"].as_str().unwrap();
    assert_unreachable(&app, &carol, &id, message, &bob.id).await;

    // Fixed: nobody leaves, is added or invited.
    let (status, body) = app
        .post(
            &format!("/api/rooms/{id}/leave"),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&bob_token),
            json!({"username": "carol"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post(
            &format!("/api/rooms/{id}/invites"),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
}

async fn dm_requests_are_checked(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, alice) = app.guest("alice").await;
    let mut others = Vec::new();
    for i in 0..8 {
        let name = format!("friend{i}");
        app.guest(&name).await;
        others.push(name);
    }
    let names: Vec<&str> = others.iter().map(String::as_str).collect();
    let code = |r: (u16, Value)| (r.0, r.1["error"]["code"].as_str().unwrap_or("").to_string());
    assert_eq!(
        code(open(&app, &alice, &names).await),
        (400, "too_many_members".into())
    );
    let (status, dm) = open(&app, &alice, &names[..7]).await;
    assert_eq!(status, 201, "8 people in all: {dm}");
    assert_eq!(dm["member_count"], 8);
    assert_eq!(
        code(open(&app, &alice, &["nobody-such"]).await),
        (404, "user_not_found".into())
    );
    assert_eq!(
        code(open(&app, &alice, &["alice"]).await),
        (400, "invalid_request".into())
    );
    assert_eq!(
        code(open(&app, &alice, &[]).await),
        (400, "invalid_request".into())
    );
    // POST /api/rooms makes no DM.
    let (status, _) = app
        .post(
            "/api/rooms",
            Some(&alice),
            json!({"name": "Sneaky", "kind": "direct"}),
        )
        .await;
    assert_eq!(status, 400);
}

/// Two opens of the same DM at once make one room.
async fn racing_opens_make_one_dm(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, alice) = app.guest("alice").await;
    let (_, bob) = app.guest("bob").await;
    for round in 0..4 {
        let name = format!("pal{round}");
        app.guest(&name).await;
        let (with_bob, with_alice) = ([name.as_str(), "bob"], [name.as_str(), "alice"]);
        let (a, b) = tokio::join!(open(&app, &alice, &with_bob), open(&app, &bob, &with_alice));
        assert_eq!(a.1["id"], b.1["id"], "round {round}: {a:?} {b:?}");
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "round {round}");
    }
}

crate::both_stores!(
    a_dm_is_one_room_per_set_of_people,
    dm_requests_are_checked,
    racing_opens_make_one_dm,
);
