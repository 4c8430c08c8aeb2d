//! Moderation (issue #9): kick and ban cut the person's sockets out of the room (a `removed`
//! frame, then nothing more of it), a banned person is refused every path of the room until
//! the ban expires or is lifted, a muted one may read but not post, and who may moderate whom.
//! Every test runs on SQLite and on PostgreSQL.

use palaver::protocol::{Room, User};
use serde_json::{json, Value};

use crate::helpers::{spawn_on, StoreKind, TestApp, WsClient};

/// The error code of an answer.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// A room owned by `owner`, with `member` in it: (app, owner, member, room).
pub async fn room_with_member(store: StoreKind) -> (TestApp, (User, String), (User, String), Room) {
    let app = spawn_on(store).await;
    let owner = app.guest("owner").await;
    let member = app.guest("member").await;
    let room = app.create_room(&owner.1, "Moderated").await;
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&member.1),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    (app, owner, member, room)
}

/// Makes the user a site admin, straight in the store (the grant itself is another feature's).
pub async fn make_site_admin(app: &TestApp, user_id: &str) {
    app.store_execute("UPDATE users SET admin = TRUE WHERE id = $1", &[user_id])
        .await;
}

/// Gives the member a room role, straight in the store (the role endpoint is another feature's).
pub async fn set_role(app: &TestApp, room_id: &str, user_id: &str, role: &str) {
    app.store_execute(
        "UPDATE members SET role = $1 WHERE room_id = $2 AND user_id = $3",
        &[role, room_id, user_id],
    )
    .await;
}

/// Pings and reads up to the pong: no frame of `room_id` (event, presence, typing, subscribe
/// answer) may come before it. What the server queued before the ping arrives before the pong.
pub async fn nothing_more_of(ws: &mut WsClient, room_id: &str) {
    ws.send(json!({"type": "ping", "ref": "quiet?"})).await;
    loop {
        let frame = ws.next().await;
        if frame["type"] == "pong" {
            return;
        }
        let of_room = frame["room_id"] == room_id || frame["event"]["room_id"] == room_id;
        assert!(
            !of_room || frame["type"] == "room_list",
            "nothing more of the room, got {frame}"
        );
    }
}

async fn kick_cuts_the_socket_and_a_public_room_may_be_joined_again(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let mut ws = app.ws(&member_token).await;
    ws.subscribe(&room.id, None).await;

    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/kick", room.id),
            Some(&owner_token),
            json!({"user_id": member.id}),
        )
        .await;
    assert_eq!(status, 204);
    let kicked = ws.expect_event("member.kicked").await;
    assert_eq!(kicked["user"]["id"], member.id.as_str());
    assert_eq!(kicked["by"]["id"], owner.id.as_str());
    let removed = ws.expect("removed").await;
    assert_eq!(
        removed,
        json!({"type": "removed", "room_id": room.id, "reason": "kicked"})
    );

    // The room goes on without them.
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&owner_token),
            json!({"client_id": "after-kick", "body": "still here"}),
        )
        .await;
    assert_eq!(status, 201);
    nothing_more_of(&mut ws, &room.id).await;
    let (_, members) = app
        .get(
            &format!("/api/rooms/{}/members", room.id),
            Some(&owner_token),
        )
        .await;
    let ids: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [owner.id.as_str()]);

    // A kick is not a ban: they may come back.
    let (subscribed, answer) = ws.subscribe(&room.id, None).await;
    assert!(subscribed.is_empty());
    assert_eq!(answer["type"], "subscribed");
    let kinds: Vec<String> = app
        .events(&owner_token, &room.id, 0)
        .await
        .iter()
        .map(|e| e.kind.name().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "member.joined",
            "member.joined",
            "member.kicked",
            "message.created",
            "member.joined"
        ]
    );
}

async fn a_banned_person_is_refused_every_path_until_unbanned(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let mut ws = app.ws(&member_token).await;
    ws.subscribe(&room.id, None).await;
    let (status, message) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&member_token),
            json!({"client_id": "before", "body": "mine"}),
        )
        .await;
    assert_eq!(status, 201);

    let (status, ban) = app
        .post(
            &format!("/api/rooms/{}/bans", room.id),
            Some(&owner_token),
            json!({"user_id": member.id}),
        )
        .await;
    assert_eq!(status, 201, "{ban}");
    assert_eq!(ban["room_id"], room.id.as_str());
    assert_eq!(ban["user"]["id"], member.id.as_str());
    assert_eq!(ban["by"]["id"], owner.id.as_str());
    assert_eq!(ban["expires_at"], Value::Null);
    let removed = ws.expect("removed").await;
    assert_eq!(removed["reason"], "banned");
    assert_eq!(removed["room_id"], room.id.as_str());

    // Every path of the room, reading included.
    let r = format!("/api/rooms/{}", room.id);
    let m = format!("{r}/messages/{}", message["id"].as_str().unwrap());
    for path in [
        r.clone(),
        format!("{r}/messages"),
        format!("{r}/events?after=0"),
        format!("{r}/events?after=0&wait=1"),
        format!("{r}/members"),
    ] {
        let (status, body) = app.get(&path, Some(&member_token)).await;
        assert_eq!((status, code(&body)), (403, "banned"), "GET {path}");
    }
    for (path, body) in [
        (format!("{r}/join"), json!({})),
        (format!("{r}/leave"), json!({})),
        (format!("{r}/typing"), json!({})),
        (
            format!("{r}/messages"),
            json!({"client_id": "c", "body": "hi"}),
        ),
        (format!("{m}/move"), json!({"after": null})),
        (format!("{m}/report"), json!({"reason": "spam"})),
    ] {
        let (status, answer) = app.post(&path, Some(&member_token), body).await;
        assert_eq!((status, code(&answer)), (403, "banned"), "POST {path}");
    }
    let (status, body) = app
        .patch(&m, Some(&member_token), json!({"body": "edited"}))
        .await;
    assert_eq!((status, code(&body)), (403, "banned"));
    let (status, body) = app.delete(&m, Some(&member_token)).await;
    assert_eq!((status, code(&body)), (403, "banned"));
    // The socket: subscribe and send.
    ws.send(json!({"type": "subscribe", "room_id": room.id, "ref": 1}))
        .await;
    let refused = ws.expect("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["ref"].as_i64()),
        (Some("banned"), Some(1))
    );
    let sent = ws.send_message(&room.id, "socket-send", "hello?").await;
    assert_eq!(
        (sent["type"].as_str(), sent["code"].as_str()),
        (Some("error"), Some("banned"))
    );
    nothing_more_of(&mut ws, &room.id).await;

    // The moderators see the ban; the person does not.
    let (status, bans) = app.get(&format!("{r}/bans"), Some(&owner_token)).await;
    assert_eq!(status, 200);
    assert_eq!(bans.as_array().unwrap().len(), 1);
    assert_eq!(bans[0]["user"]["id"], member.id.as_str());
    let (status, body) = app.get(&format!("{r}/bans"), Some(&member_token)).await;
    assert_eq!((status, code(&body)), (403, "banned"));

    // Lifted: they may join again.
    let (status, _) = app
        .delete(&format!("{r}/bans/{}", member.id), Some(&owner_token))
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .delete(&format!("{r}/bans/{}", member.id), Some(&owner_token))
        .await;
    assert_eq!((status, code(&body)), (404, "ban_not_found"));
    let (status, _) = app
        .post(&format!("{r}/join"), Some(&member_token), json!({}))
        .await;
    assert_eq!(status, 200);
    ws.subscribe(&room.id, None).await;
    let kinds: Vec<String> = app
        .events(&owner_token, &room.id, 0)
        .await
        .iter()
        .map(|e| e.kind.name().to_string())
        .collect();
    assert_eq!(
        kinds[2..],
        [
            "message.created",
            "member.banned",
            "member.unbanned",
            "member.joined"
        ]
    );
}

async fn a_ban_ends_by_itself_when_it_expires(store: StoreKind) {
    let (app, (_, owner_token), (member, member_token), room) = room_with_member(store).await;
    let r = format!("/api/rooms/{}", room.id);
    let (status, ban) = app
        .post(
            &format!("{r}/bans"),
            Some(&owner_token),
            json!({"user_id": member.id, "expires_in_secs": 1}),
        )
        .await;
    assert_eq!(status, 201);
    assert!(ban["expires_at"].is_string());
    let (status, body) = app.get(&r, Some(&member_token)).await;
    assert_eq!((status, code(&body)), (403, "banned"));
    // Wait for the expiry (polling, with a deadline), then it is as if there never was one.
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let (status, _) = app.get(&r, Some(&member_token)).await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the ban expires");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, bans) = app.get(&format!("{r}/bans"), Some(&owner_token)).await;
    assert_eq!(bans, json!([]));
    let (status, body) = app
        .delete(&format!("{r}/bans/{}", member.id), Some(&owner_token))
        .await;
    assert_eq!((status, code(&body)), (404, "ban_not_found"));
    let (status, _) = app
        .post(&format!("{r}/join"), Some(&member_token), json!({}))
        .await;
    assert_eq!(status, 200);
}

async fn a_muted_person_reads_but_may_not_post(store: StoreKind) {
    let (app, (_, owner_token), (member, member_token), room) = room_with_member(store).await;
    let r = format!("/api/rooms/{}", room.id);
    let (_, message) = app
        .post(
            &format!("{r}/messages"),
            Some(&member_token),
            json!({"client_id": "m1", "body": "before the mute"}),
        )
        .await;
    let m = format!("{r}/messages/{}", message["id"].as_str().unwrap());
    let mut ws = app.ws(&member_token).await;
    ws.subscribe(&room.id, None).await;

    let (status, mute) = app
        .post(
            &format!("{r}/mutes"),
            Some(&owner_token),
            json!({"user_id": member.id, "expires_in_secs": 3600}),
        )
        .await;
    assert_eq!(status, 201, "{mute}");
    assert!(mute["expires_at"].is_string());
    // Still subscribed: they see their own mute.
    let muted = ws.expect_event("member.muted").await;
    assert_eq!(muted["user"]["id"], member.id.as_str());

    for (path, body) in [
        (
            format!("{r}/messages"),
            json!({"client_id": "m2", "body": "hi"}),
        ),
        (format!("{m}/move"), json!({"after": null})),
        (format!("{r}/typing"), json!({})),
    ] {
        let (status, answer) = app.post(&path, Some(&member_token), body).await;
        assert_eq!((status, code(&answer)), (403, "muted"), "POST {path}");
    }
    let (status, body) = app
        .patch(&m, Some(&member_token), json!({"body": "edited"}))
        .await;
    assert_eq!((status, code(&body)), (403, "muted"));
    let sent = ws.send_message(&room.id, "socket-send", "hello?").await;
    assert_eq!(sent["code"], "muted");
    ws.send(json!({"type": "typing", "room_id": room.id})).await;
    let refused = ws.expect("error").await;
    assert_eq!(refused["code"], "muted");
    // Reading is fine, and so is the socket.
    assert_eq!(app.history(&member_token, &room.id).await.len(), 1);
    let (status, _) = app.get(&format!("{r}/members"), Some(&member_token)).await;
    assert_eq!(status, 200);
    ws.subscribe(&room.id, None).await;

    let (status, _) = app
        .delete(&format!("{r}/mutes/{}", member.id), Some(&owner_token))
        .await;
    assert_eq!(status, 204);
    ws.expect_event("member.unmuted").await;
    let sent = ws.send_message(&room.id, "m3", "back").await;
    assert_eq!(sent["type"], "ack");
    let (_, mutes) = app.get(&format!("{r}/mutes"), Some(&owner_token)).await;
    assert_eq!(mutes, json!([]));
}

/// In a room that is not public, a banned person is told the room does not exist.
async fn a_ban_hides_a_room_that_is_not_public(store: StoreKind) {
    let (app, (_, owner_token), (member, member_token), room) = room_with_member(store).await;
    app.store_execute(
        "UPDATE rooms SET kind = 'private' WHERE id = $1",
        &[&room.id],
    )
    .await;
    let r = format!("/api/rooms/{}", room.id);
    let (status, _) = app
        .post(
            &format!("{r}/bans"),
            Some(&owner_token),
            json!({"user_id": member.id}),
        )
        .await;
    assert_eq!(status, 201);
    for path in [r.clone(), format!("{r}/messages"), format!("{r}/events")] {
        let (status, body) = app.get(&path, Some(&member_token)).await;
        assert_eq!((status, code(&body)), (404, "room_not_found"), "GET {path}");
    }
    let mut ws = app.ws(&member_token).await;
    let refused = ws.try_subscribe(&room.id, None).await.unwrap();
    assert_eq!(refused.answer["code"], "room_not_found");
}

crate::both_stores!(
    a_ban_hides_a_room_that_is_not_public,
    kick_cuts_the_socket_and_a_public_room_may_be_joined_again,
    a_banned_person_is_refused_every_path_until_unbanned,
    a_ban_ends_by_itself_when_it_expires,
    a_muted_person_reads_but_may_not_post,
);
