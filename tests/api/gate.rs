//! The one gate: every path that reads or changes a room asks it. A policy that can be switched
//! to refuse everything makes every REST path and every socket frame about a room answer
//! `room_not_found`, and room-list frames stop; a policy that lets members read only hides
//! other rooms from lists and room-list frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use palaver::chat::access::{Facts, Lookup, Need, Policy, RoomKinds};
use palaver::protocol::Role;
use serde_json::json;

use crate::helpers::spawn_with_policy;

/// Palaver's policy until switched, then nothing at all.
#[derive(Default)]
struct Switch {
    deny: AtomicBool,
}

impl Policy for Switch {
    fn lookup(&self, need: Need) -> Lookup {
        RoomKinds.lookup(need)
    }
    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool {
        !self.deny.load(Ordering::SeqCst) && RoomKinds.allows(need, facts)
    }
}

/// Members read and post; anyone may join… but a non-member can't see the room to join it.
struct MembersOnly;

impl Policy for MembersOnly {
    fn lookup(&self, _need: Need) -> Lookup {
        Lookup::RoomAndRole
    }
    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool {
        match need {
            Need::Read | Need::Post | Need::Join => facts.role.is_some(),
            Need::Moderate => matches!(facts.role, Some(Role::Owner | Role::Admin)),
            Need::Own => facts.role == Some(Role::Owner),
        }
    }
}

fn assert_hidden(what: &str, (status, body): (u16, serde_json::Value)) {
    assert_eq!(status, 404, "{what}: {body}");
    assert_eq!(body["error"]["code"], "room_not_found", "{what}: {body}");
}

/// Frames are queued in order, and a room_list frame is queued before the request that caused
/// it is answered: so any such frame would arrive before the answer to a later ping.
async fn assert_no_room_list_before_pong(ws: &mut crate::helpers::WsClient) {
    ws.send(json!({"type": "ping", "ref": "p"})).await;
    loop {
        let frame = ws.next().await;
        assert_ne!(frame["type"], "room_list", "{frame}");
        if frame["type"] == "pong" {
            return;
        }
    }
}

#[tokio::test]
async fn a_policy_that_refuses_everything_closes_every_path_over_rest_and_the_socket() {
    let policy = Arc::new(Switch::default());
    let app = spawn_with_policy(policy.clone()).await;
    let (_alice, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Gated").await;
    let id = room.id.as_str();
    let (status, sent) = app
        .post(
            &format!("/api/rooms/{id}/messages"),
            Some(&token),
            json!({"client_id": "c1", "body": "before"}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let message = sent["id"].as_str().unwrap().to_string();
    let mut ws = app.ws(&token).await;
    ws.subscribe(id, None).await;
    let hooks = format!("/api/rooms/{id}/webhooks");
    let (status, hook) = app
        .post(&hooks, Some(&token), json!({"name": "gated-hook"}))
        .await;
    assert_eq!(status, 201, "{hook}");

    policy.deny.store(true, Ordering::SeqCst);

    let base = format!("/api/rooms/{id}");
    let msg = format!("{base}/messages/{message}");
    assert_hidden("show", app.get(&base, Some(&token)).await);
    assert_hidden(
        "history",
        app.get(&format!("{base}/messages"), Some(&token)).await,
    );
    assert_hidden(
        "events",
        app.get(&format!("{base}/events"), Some(&token)).await,
    );
    assert_hidden(
        "long-poll",
        app.get(&format!("{base}/events?after=99&wait=5"), Some(&token))
            .await,
    );
    assert_hidden(
        "members",
        app.get(&format!("{base}/members"), Some(&token)).await,
    );
    let send = json!({"client_id": "c2", "body": "after"});
    assert_hidden(
        "send",
        app.post(&format!("{base}/messages"), Some(&token), send)
            .await,
    );
    assert_hidden(
        "edit",
        app.patch(&msg, Some(&token), json!({"body": "edited"}))
            .await,
    );
    assert_hidden(
        "move",
        app.post(&format!("{msg}/move"), Some(&token), json!({"after": null}))
            .await,
    );
    assert_hidden("delete message", app.delete(&msg, Some(&token)).await);
    // Replies, threads, reactions, pins (issue #10).
    let t = Some(token.as_str());
    let reply = json!({"client_id": "c4", "body": "x", "thread_id": message, "reply_to": message});
    assert_hidden(
        "thread reply",
        app.post(&format!("{base}/messages"), t, reply).await,
    );
    assert_hidden(
        "thread",
        app.get(&format!("{base}/threads/{message}/messages"), t)
            .await,
    );
    assert_hidden(
        "react",
        app.put(&format!("{msg}/reactions/%F0%9F%91%8D"), t).await,
    );
    assert_hidden(
        "unreact",
        app.delete(&format!("{msg}/reactions/%F0%9F%91%8D"), t)
            .await,
    );
    assert_hidden("pin", app.post(&format!("{msg}/pin"), t, json!({})).await);
    assert_hidden("unpin", app.delete(&format!("{msg}/pin"), t).await);
    assert_hidden("pins", app.get(&format!("{base}/pins"), t).await);
    assert_hidden(
        "clear",
        app.post(&format!("{base}/clear"), Some(&token), json!({}))
            .await,
    );
    assert_hidden(
        "typing",
        app.post(&format!("{base}/typing"), Some(&token), json!({}))
            .await,
    );
    assert_hidden(
        "join",
        app.post(&format!("{base}/join"), Some(&token), json!({}))
            .await,
    );
    assert_hidden(
        "leave",
        app.post(&format!("{base}/leave"), Some(&token), json!({}))
            .await,
    );
    assert_hidden(
        "update",
        app.patch(&base, Some(&token), json!({"topic": "new"}))
            .await,
    );
    assert_hidden("webhooks", app.get(&hooks, Some(&token)).await);
    let new_hook = json!({"name": "another-hook"});
    assert_hidden(
        "create webhook",
        app.post(&hooks, Some(&token), new_hook).await,
    );
    let one_hook = format!("{hooks}/{}", hook["id"].as_str().unwrap());
    assert_hidden("delete webhook", app.delete(&one_hook, Some(&token)).await);
    // The webhook's poster asks the gate like anyone.
    let url = hook["url"].as_str().unwrap();
    assert_hidden(
        "webhook post",
        app.post(url, None, json!({"body": "gated"})).await,
    );
    // Read markers and notification levels (issue #10).
    assert_hidden(
        "read marker",
        crate::unread::put(&app, &format!("{base}/read"), &token, json!({"seq": 1})).await,
    );
    assert_hidden(
        "notifications",
        crate::unread::put(
            &app,
            &format!("{base}/notifications"),
            &token,
            json!({"level": "all"}),
        )
        .await,
    );
    // Search (issue #11): naming the room is refused; searching everywhere finds nothing of it.
    assert_hidden(
        "search in the room",
        app.get(&format!("/api/search?q=before&room_id={id}"), Some(&token))
            .await,
    );
    let (status, found) = app.get("/api/search?q=before", Some(&token)).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["results"],
        json!([]),
        "search finds nothing of the room"
    );
    assert_hidden("delete room", app.delete(&base, Some(&token)).await);
    let (status, rooms) = app.get("/api/rooms", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(rooms, json!([]), "no room is listed");

    // The socket: every frame about the room is refused the same way.
    let frames = [
        json!({"type": "subscribe", "room_id": id, "after": 0, "ref": "subscribe"}),
        json!({"type": "send", "room_id": id, "client_id": "c3", "body": "x", "ref": "send"}),
        json!({"type": "edit", "room_id": id, "message_id": message, "body": "y", "ref": "edit"}),
        json!({"type": "move", "room_id": id, "message_id": message, "after": null, "ref": "move"}),
        json!({"type": "delete", "room_id": id, "message_id": message, "ref": "delete"}),
        json!({"type": "clear", "room_id": id, "ref": "clear"}),
        json!({"type": "send", "room_id": id, "client_id": "c5", "body": "x", "thread_id": message, "ref": "thread send"}),
        json!({"type": "react", "room_id": id, "message_id": message, "emoji": "👍", "ref": "react"}),
        json!({"type": "unreact", "room_id": id, "message_id": message, "emoji": "👍", "ref": "unreact"}),
        json!({"type": "read", "room_id": id, "seq": 1, "ref": "read"}),
    ];
    for frame in frames {
        let reference = frame["ref"].clone();
        ws.send(frame).await;
        let answer = ws.expect("error").await;
        assert_eq!(answer["code"], "room_not_found", "{reference}: {answer}");
        assert_eq!(answer["ref"], reference, "{answer}");
    }
    // Typing carries no ref: its refusal is the next error.
    ws.send(json!({"type": "typing", "room_id": id})).await;
    assert_eq!(ws.expect("error").await["code"], "room_not_found");

    // A room created now is announced to nobody who may not read it: the pong comes first.
    app.create_room(&token, "Unseen").await;
    assert_no_room_list_before_pong(&mut ws).await;

    // Nothing was changed by any refused request.
    policy.deny.store(false, Ordering::SeqCst);
    let history = app.history(&token, id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body, "before");
}

#[tokio::test]
async fn a_members_only_policy_hides_other_rooms_from_lists_and_room_list_frames() {
    let app = spawn_with_policy(Arc::new(MembersOnly)).await;
    let (_alice, alice) = app.guest("alice").await;
    let (_bob, bob) = app.guest("bob").await;
    let mut bob_ws = app.ws(&bob).await;
    let mut alice_ws = app.ws(&alice).await;
    bob_ws.expect("hello").await;
    alice_ws.expect("hello").await;

    let room = app.create_room(&alice, "Alice only").await;
    let frame = alice_ws.expect("room_list").await;
    assert_eq!(frame["room"]["id"], room.id.as_str(), "{frame}");
    assert_no_room_list_before_pong(&mut bob_ws).await;

    let (_, listed) = app.get("/api/rooms", Some(&alice)).await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == room.id.as_str()));
    let (_, listed) = app.get("/api/rooms", Some(&bob)).await;
    assert!(!listed
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == room.id.as_str()));
    assert_hidden(
        "bob reads it",
        app.get(&format!("/api/rooms/{}/messages", room.id), Some(&bob))
            .await,
    );
    let (status, _) = app
        .get(&format!("/api/rooms/{}/messages", room.id), Some(&alice))
        .await;
    assert_eq!(status, 200, "the owner reads it");
}
