//! Private rooms and DMs: to anyone outside them they don't exist, on every REST path and every
//! socket frame, in room lists and in room-list frames; members come in by being added by a
//! moderator or by an invite.

use serde_json::{json, Value};

use crate::helpers::{spawn_on, StoreKind, TestApp, WsClient};

pub fn assert_hidden(what: &str, (status, body): (u16, Value)) {
    assert_eq!(status, 404, "{what}: {body}");
    assert_eq!(body["error"]["code"], "room_not_found", "{what}: {body}");
}

/// Frames are queued in order, and a room_list frame is queued before the request that caused
/// it is answered: so any such frame would arrive before the answer to a later ping.
pub async fn assert_no_room_list_before_pong(ws: &mut WsClient, room_id: &str) {
    ws.send(json!({"type": "ping", "ref": "p"})).await;
    loop {
        let frame = ws.next().await;
        if frame["type"] == "room_list" {
            assert_ne!(frame["room"]["id"], room_id, "{frame}");
        }
        if frame["type"] == "pong" {
            return;
        }
    }
}

pub async fn private_room(app: &TestApp, token: &str, name: &str) -> Value {
    let (status, room) = app
        .post(
            "/api/rooms",
            Some(token),
            json!({"name": name, "kind": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{room}");
    assert_eq!(room["kind"], "private", "{room}");
    room
}

/// Every REST path and socket frame about the room answers `room_not_found` to `token`, whose
/// user is not in it; `message` is a message of the room, `member` a member's user id.
pub async fn assert_unreachable(
    app: &TestApp,
    token: &str,
    room: &str,
    message: &str,
    member: &str,
) {
    let base = format!("/api/rooms/{room}");
    let msg = format!("{base}/messages/{message}");
    let t = Some(token);
    assert_hidden("show", app.get(&base, t).await);
    assert_hidden("history", app.get(&format!("{base}/messages"), t).await);
    assert_hidden("events", app.get(&format!("{base}/events"), t).await);
    assert_hidden(
        "long-poll",
        app.get(&format!("{base}/events?after=99&wait=5"), t).await,
    );
    assert_hidden("members", app.get(&format!("{base}/members"), t).await);
    let send = json!({"client_id": "stranger-1", "body": "let me in"});
    assert_hidden("send", app.post(&format!("{base}/messages"), t, send).await);
    assert_hidden(
        "edit",
        app.patch(&msg, t, json!({"body": "mine now"})).await,
    );
    assert_hidden(
        "move",
        app.post(&format!("{msg}/move"), t, json!({"after": null}))
            .await,
    );
    assert_hidden("delete message", app.delete(&msg, t).await);
    assert_hidden(
        "clear",
        app.post(&format!("{base}/clear"), t, json!({})).await,
    );
    assert_hidden(
        "typing",
        app.post(&format!("{base}/typing"), t, json!({})).await,
    );
    assert_hidden(
        "join",
        app.post(&format!("{base}/join"), t, json!({})).await,
    );
    assert_hidden(
        "leave",
        app.post(&format!("{base}/leave"), t, json!({})).await,
    );
    assert_hidden(
        "update",
        app.patch(&base, t, json!({"topic": "mine"})).await,
    );
    assert_hidden("delete room", app.delete(&base, t).await);
    assert_hidden(
        "invite",
        app.post(&format!("{base}/invites"), t, json!({})).await,
    );
    assert_hidden(
        "add member",
        app.post(&format!("{base}/members"), t, json!({"username": "x"}))
            .await,
    );
    assert_hidden(
        "change role",
        app.patch(
            &format!("{base}/members/{member}"),
            t,
            json!({"role": "moderator"}),
        )
        .await,
    );
    // Read markers and notification levels (issue #10).
    assert_hidden(
        "read marker",
        crate::unread::put(app, &format!("{base}/read"), token, json!({"seq": 1})).await,
    );
    assert_hidden(
        "notifications",
        crate::unread::put(
            app,
            &format!("{base}/notifications"),
            token,
            json!({"level": "all"}),
        )
        .await,
    );
    let (status, rooms) = app.get("/api/rooms", t).await;
    assert_eq!(status, 200);
    assert!(
        !rooms.as_array().unwrap().iter().any(|r| r["id"] == room),
        "listed: {rooms}"
    );
    let (status, unread) = app.get("/api/me/unread", t).await;
    assert_eq!(status, 200);
    assert!(
        !unread
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == room),
        "in the unread list: {unread}"
    );

    let mut ws = app.ws(token).await;
    let frames = [
        json!({"type": "subscribe", "room_id": room, "after": 0, "ref": "subscribe"}),
        json!({"type": "send", "room_id": room, "client_id": "stranger-2", "body": "x", "ref": "send"}),
        json!({"type": "edit", "room_id": room, "message_id": message, "body": "y", "ref": "edit"}),
        json!({"type": "move", "room_id": room, "message_id": message, "after": null, "ref": "move"}),
        json!({"type": "delete", "room_id": room, "message_id": message, "ref": "delete"}),
        json!({"type": "clear", "room_id": room, "ref": "clear"}),
        json!({"type": "read", "room_id": room, "seq": 1, "ref": "read"}),
    ];
    for frame in frames {
        let reference = frame["ref"].clone();
        ws.send(frame).await;
        let answer = ws.expect("error").await;
        assert_eq!(answer["code"], "room_not_found", "{reference}: {answer}");
        assert_eq!(answer["ref"], reference, "{answer}");
    }
    // Typing needs a subscription, which the stranger can't have: the answer is the one a room
    // that doesn't exist gets, so it tells nothing either.
    ws.send(json!({"type": "typing", "room_id": room})).await;
    let answer = ws.expect("error").await;
    ws.send(json!({"type": "typing", "room_id": "0123456789abcdef0123456789abcdef"}))
        .await;
    let nowhere = ws.expect("error").await;
    assert_eq!(answer, nowhere);
}

/// A stranger reaches a private room by no path; the room is as it was afterwards.
async fn a_stranger_reaches_a_private_room_by_no_path(store: StoreKind) {
    let app = spawn_on(store).await;
    let (alice, owner) = app.guest("alice").await;
    let (_, stranger) = app.guest("mallory").await;
    let room = private_room(&app, &owner, "Secret Plans").await;
    let id = room["id"].as_str().unwrap();
    let (status, sent) = app
        .post(
            &format!("/api/rooms/{id}/messages"),
            Some(&owner),
            json!({"client_id": "c1", "body": "the plan"}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let message = sent["id"].as_str().unwrap();

    assert_unreachable(&app, &stranger, id, message, &alice.id).await;

    // Nothing the stranger asked changed the room.
    let history = app.history(&owner, id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body, "the plan");
    let events = app.events(&owner, id, 0).await;
    assert_eq!(events.len(), 2, "member.joined and message.created only");
}

/// A room made private is announced only to its members, and its name is no secret-revealing
/// taken name: a public room may bear it too.
async fn private_rooms_stay_out_of_strangers_lists_and_frames(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let mut owner_ws = app.ws(&owner).await;
    let mut bob_ws = app.ws(&bob_token).await;
    owner_ws.expect("hello").await;
    bob_ws.expect("hello").await;

    let room = private_room(&app, &owner, "Hideout").await;
    let id = room["id"].as_str().unwrap();
    assert_eq!(room["member"], true);
    assert_eq!(room["my_role"], "owner");
    let frame = owner_ws.expect("room_list").await;
    assert_eq!(frame["room"]["id"], id, "{frame}");
    assert_no_room_list_before_pong(&mut bob_ws, id).await;

    let (_, listed) = app.get("/api/rooms", Some(&owner)).await;
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .expect("the owner's list has it")
        .clone();
    assert_eq!(
        (mine["member"].clone(), mine["my_role"].clone()),
        (json!(true), json!("owner"))
    );
    // Public rooms come with the caller's membership too.
    let general = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "General")
        .unwrap()
        .clone();
    assert_eq!(
        (general["member"].clone(), general["my_role"].clone()),
        (json!(false), Value::Null)
    );

    // A private room's name takes nothing from public rooms.
    let public = app.create_room(&bob_token, "Hideout").await;
    assert_ne!(public.id, id);

    // Renaming or changing it sends the room-list update to members only.
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{id}"),
            Some(&owner),
            json!({"topic": "shh"}),
        )
        .await;
    assert_eq!(status, 200);
    let frame = owner_ws
        .expect_with("the update", |f| {
            (f["type"] == "room_list" && f["room"]["id"] == id).then(|| f.clone())
        })
        .await;
    assert_eq!(frame["room"]["topic"], "shh");
    assert_eq!(
        frame["room"]["member"], false,
        "shared frames carry no caller"
    );
    assert_no_room_list_before_pong(&mut bob_ws, id).await;

    // Added by the owner, bob learns of the room at once, and reads it.
    let (status, member) = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&owner),
            json!({"username": "BOB"}),
        )
        .await;
    assert_eq!(status, 201, "{member}");
    assert_eq!(member["user"]["id"], bob.id.as_str());
    assert_eq!(member["role"], "member");
    let frame = bob_ws
        .expect_with("bob's room_list", |f| {
            (f["type"] == "room_list" && f["room"]["id"] == id).then(|| f.clone())
        })
        .await;
    assert_eq!(frame["change"], "created");
    let (status, again) = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&owner),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "already a member: {again}");
    let shown = app.get(&format!("/api/rooms/{id}"), Some(&bob_token)).await;
    assert_eq!(shown.0, 200);
    assert_eq!(
        (shown.1["member"].clone(), shown.1["my_role"].clone()),
        (json!(true), json!("member"))
    );
    bob_ws.subscribe(id, None).await;
    let events = app.events(&owner, id, 0).await;
    let joined: Vec<_> = events
        .iter()
        .filter(|e| matches!(&e.kind, palaver::protocol::EventKind::MemberJoined { user } if user.id == bob.id))
        .collect();
    assert_eq!(joined.len(), 1, "one member.joined for bob");

    // A member who is no moderator adds nobody; an unknown name is user_not_found.
    let (status, body) = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&bob_token),
            json!({"username": "alice"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&owner),
            json!({"username": "nobody-here"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("user_not_found"))
    );

    // Left, bob can't come back by joining: the room is gone for him again.
    let (status, _) = app
        .post(
            &format!("/api/rooms/{id}/leave"),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_hidden(
        "join after leaving",
        app.post(
            &format!("/api/rooms/{id}/join"),
            Some(&bob_token),
            json!({}),
        )
        .await,
    );
}

/// The owner makes a member a moderator and back: `member.role_changed` each time; a moderator
/// moderates but changes no roles.
async fn the_owner_changes_roles(store: StoreKind) {
    let app = spawn_on(store).await;
    let (alice, owner) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (carol, carol_token) = app.guest("carol").await;
    let room = app.create_room(&owner, "Roles").await;
    let id = room.id.as_str();
    for token in [&bob_token, &carol_token] {
        let (status, _) = app
            .post(&format!("/api/rooms/{id}/join"), Some(token), json!({}))
            .await;
        assert_eq!(status, 200);
    }
    let path = format!("/api/rooms/{id}/members/{}", bob.id);
    let (status, body) = app
        .patch(&path, Some(&bob_token), json!({"role": "moderator"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = app
        .patch(&path, Some(&owner), json!({"role": "owner"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_role"))
    );
    let (status, member) = app
        .patch(&path, Some(&owner), json!({"role": "moderator"}))
        .await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["role"], "moderator");
    let last = app.events(&owner, id, 0).await.pop().unwrap();
    let json = serde_json::to_value(&last).unwrap();
    assert_eq!(json["kind"], "member.role_changed", "{json}");
    assert_eq!(json["user"]["id"], bob.id.as_str());
    assert_eq!(json["role"], "moderator");
    assert_eq!(json["by"]["id"], alice.id.as_str());
    let seq = last.seq;
    // The same role again changes nothing and makes no event.
    let (status, _) = app
        .patch(&path, Some(&owner), json!({"role": "moderator"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.events(&owner, id, seq).await.len(), 0);

    let (_, shown) = app.get(&format!("/api/rooms/{id}"), Some(&bob_token)).await;
    assert_eq!(shown["my_role"], "moderator");
    // A moderator moderates (changes the room) but changes nobody's role.
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{id}"),
            Some(&bob_token),
            json!({"topic": "moderated"}),
        )
        .await;
    assert_eq!(status, 200);
    let carol_path = format!("/api/rooms/{id}/members/{}", carol.id);
    let (status, _) = app
        .patch(&carol_path, Some(&bob_token), json!({"role": "moderator"}))
        .await;
    assert_eq!(status, 403);
    // The owner's own role doesn't change; a non-member is user_not_found.
    let owner_path = format!("/api/rooms/{id}/members/{}", alice.id);
    let (status, body) = app
        .patch(&owner_path, Some(&owner), json!({"role": "member"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_role"))
    );
    let (dave, _) = app.guest("dave").await;
    let dave_path = format!("/api/rooms/{id}/members/{}", dave.id);
    let (status, body) = app
        .patch(&dave_path, Some(&owner), json!({"role": "member"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("user_not_found"))
    );

    // And back: a second event.
    let (status, member) = app
        .patch(&path, Some(&owner), json!({"role": "member"}))
        .await;
    assert_eq!((status, member["role"].as_str()), (200, Some("member")));
    let events = app.events(&owner, id, seq).await;
    assert_eq!(events.len(), 2, "the topic change and the role change");
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{id}"),
            Some(&bob_token),
            json!({"topic": "no more"}),
        )
        .await;
    assert_eq!(status, 403);

    // Both role changes are in the audit log, which the install's site admin reads.
    let (status, admin) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "siteadmin", "password": "plenty of entropy here 42"}),
        )
        .await;
    assert_eq!((status, admin["first_admin"].as_bool()), (201, Some(true)));
    let admin_token = admin["token"].as_str().unwrap();
    let (status, audit) = app.get("/api/admin/audit", Some(admin_token)).await;
    assert_eq!(status, 200, "{audit}");
    let roles: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "role" && e["room_id"] == id)
        .map(|e| {
            (
                e["actor"]["id"].as_str().unwrap().to_string(),
                e["target_user_id"].as_str().unwrap().to_string(),
                e["detail"]["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let entry = |role: &str| (alice.id.clone(), bob.id.clone(), role.to_string());
    // Newest first.
    assert_eq!(roles, vec![entry("member"), entry("moderator")]);
}

/// Someone who leaves a private room stops getting it at once on every socket of theirs (a
/// `removed` frame with reason `left`, then nothing more of the room), and reads it by no path.
async fn leaving_a_private_room_ends_its_live_events(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = app.guest("owner").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = private_room(&app, &owner, "Leavers").await;
    let id = room["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/rooms/{id}/members"),
            Some(&owner),
            json!({"username": "bob"}),
        )
        .await;
    assert_eq!(status, 201);
    let mut staying = app.ws(&bob_token).await;
    staying.expect("hello").await;
    staying.subscribe(id, None).await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{id}/leave"),
            Some(&bob_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let removed = staying.expect("removed").await;
    assert_eq!(
        (removed["room_id"].as_str(), removed["reason"].as_str()),
        (Some(id), Some("left"))
    );
    // The owner talks on; bob's socket hears nothing more of the room (a ping answers first).
    let mut owner_ws = app.ws(&owner).await;
    owner_ws.expect("hello").await;
    owner_ws.subscribe(id, None).await;
    owner_ws
        .send_message(id, "after-leave", "bob can't read this")
        .await;
    staying.send(json!({"type": "ping", "ref": "after"})).await;
    loop {
        let frame = staying.next().await;
        assert_ne!(frame["type"], "event", "an event of the left room: {frame}");
        if frame["type"] == "pong" {
            break;
        }
    }
    assert_hidden(
        "history",
        app.get(&format!("/api/rooms/{id}/messages"), Some(&bob_token))
            .await,
    );
}

/// A site admin moderates every room they may read, and nothing more: a private room they are
/// not in stays hidden from them too, and only a room's owner changes roles. (No API in this
/// branch makes a site admin, so the test sets the flag in the SQLite file.)
#[tokio::test]
async fn a_site_admin_moderates_the_rooms_they_may_read() {
    use sqlx::Connection;
    let app = crate::helpers::spawn_app().await;
    let (_, owner) = app.guest("alice").await;
    let (bob, bob_token) = app.guest("bob").await;
    let (root, root_token) = app.guest("rooty").await;
    let public = app.create_room(&owner, "Town Square").await;
    let private = private_room(&app, &owner, "Back Room").await;
    let private_id = private["id"].as_str().unwrap();
    let public_path = format!("/api/rooms/{}", public.id);
    let topic = json!({"topic": "set by the site admin"});
    // Not yet an admin: no moderating.
    let (status, _) = app
        .patch(&public_path, Some(&root_token), topic.clone())
        .await;
    assert_eq!(status, 403);

    let url = format!("sqlite://{}", app.data_dir.join("palaver.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE users SET admin = 1 WHERE id = ?")
        .bind(&root.id)
        .execute(&mut db)
        .await
        .unwrap();

    let (status, room) = app.patch(&public_path, Some(&root_token), topic).await;
    assert_eq!(status, 200, "{room}");
    let (status, _) = app
        .post(&format!("{public_path}/join"), Some(&bob_token), json!({}))
        .await;
    assert_eq!(status, 200);
    let role = format!("{public_path}/members/{}", bob.id);
    let (status, _) = app
        .patch(&role, Some(&root_token), json!({"role": "moderator"}))
        .await;
    assert_eq!(status, 403, "roles are the owner's");
    assert_hidden(
        "the admin in a private room they are not in",
        app.get(&format!("/api/rooms/{private_id}"), Some(&root_token))
            .await,
    );
}

crate::both_stores!(
    a_stranger_reaches_a_private_room_by_no_path,
    private_rooms_stay_out_of_strangers_lists_and_frames,
    the_owner_changes_roles,
    leaving_a_private_room_ends_its_live_events,
);
