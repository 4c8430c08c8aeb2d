//! Mentions and notifications (issue #10): `@name` mentions only people who may read the room,
//! `@room` / `@here` follow the room's `mention_everyone`, and a `notification` frame reaches
//! exactly the people whose level asks for it — never the author, never an outsider. Every test
//! runs on SQLite and on PostgreSQL.

use serde_json::json;

use crate::helpers::{spawn_on, StoreKind, TestApp, WsClient};
use crate::moderation::set_role;
use crate::unread::{counts, no_frame_of_type, put, register, say, unread_of};

/// Waits for the next `notification` frame and answers its message's body.
async fn notified(ws: &mut WsClient) -> String {
    let frame = ws.expect("notification").await;
    assert_eq!(frame["room_id"], frame["message"]["room_id"]);
    frame["message"]["body"].as_str().unwrap().to_string()
}

async fn joined(app: &TestApp, token: &str, room_id: &str) {
    let (status, body) = app
        .post(
            &format!("/api/rooms/{room_id}/join"),
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn a_mention_reaches_only_people_who_may_read_the_room(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, ann) = register(&app, "ann").await;
    let (bob_user, bob) = register(&app, "bob").await;
    let (carol_user, carol) = register(&app, "carol").await;
    let (status, room) = app
        .post(
            "/api/rooms",
            Some(&ann),
            json!({"name": "Inner", "kind": "private"}),
        )
        .await;
    assert_eq!(status, 201);
    let room_id = room["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(
            &format!("/api/rooms/{room_id}/members"),
            Some(&ann),
            json!({"username": "bob"}),
        )
        .await;
    assert!(status == 200 || status == 201 || status == 204, "{status}");
    let mut ann_ws = app.ws(&ann).await;
    let mut bob_ws = app.ws(&bob).await;
    let mut carol_ws = app.ws(&carol).await;

    // Carol can't read the room: naming her mentions nobody, and she hears nothing of it.
    let message = say(
        &app,
        &ann,
        &room_id,
        "c1",
        "hi @Bob, @carol and @nobody; not `@bob` in code, mail bob@example.com",
    )
    .await;
    assert_eq!(message["mentions"], json!([bob_user.id]));
    assert_eq!(
        notified(&mut bob_ws).await,
        message["body"].as_str().unwrap()
    );
    // Bob's frame went out with any other of this message's: nothing is on its way to carol,
    // and the author hears nothing either.
    no_frame_of_type(&mut carol_ws, "notification").await;
    no_frame_of_type(&mut ann_ws, "notification").await;
    assert!(unread_of(&app, &carol, &room_id).await.is_none());
    assert_eq!(counts(&app, &bob, &room_id).await, (1, 1, 0));

    // A code block mentions nobody.
    let quiet = say(&app, &ann, &room_id, "c2", "```\n@bob\n```").await;
    assert_eq!(quiet["mentions"], json!([]));

    // In a public room, anyone may read: carol (not a member) is mentioned and notified.
    let public = app.create_room(&ann, "Open").await;
    let message = say(&app, &ann, &public.id, "p1", "@carol see this").await;
    assert_eq!(message["mentions"], json!([carol_user.id]));
    assert_eq!(notified(&mut carol_ws).await, "@carol see this");
    no_frame_of_type(&mut bob_ws, "notification").await;

    // An edit that adds a mention notifies the newly mentioned only.
    let (status, edited) = app
        .patch(
            &format!(
                "/api/rooms/{}/messages/{}",
                public.id,
                message["id"].as_str().unwrap()
            ),
            Some(&ann),
            json!({"body": "@carol see this, @bob too"}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["mentions"], json!([carol_user.id, bob_user.id]));
    assert_eq!(notified(&mut bob_ws).await, "@carol see this, @bob too");
    no_frame_of_type(&mut carol_ws, "notification").await;
}

async fn levels_decide_who_is_notified(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, ann) = register(&app, "ann").await;
    let (_, bob) = register(&app, "bob").await;
    let (_, carol) = register(&app, "carol").await;
    let room = app.create_room(&ann, "Levels").await;
    joined(&app, &bob, &room.id).await;
    joined(&app, &carol, &room.id).await;
    let mut bob_ws = app.ws(&bob).await;
    let mut carol_ws = app.ws(&carol).await;
    let level = |token: &str, level: &str| {
        let (path, token, body) = (
            format!("/api/rooms/{}/notifications", room.id),
            token.to_string(),
            json!({"level": level}),
        );
        let app = &app;
        async move {
            let (status, _) = put(app, &path, &token, body).await;
            assert_eq!(status, 204);
        }
    };

    // The default, mentions: a plain message notifies nobody; a mention notifies.
    say(&app, &ann, &room.id, "l1", "plain").await;
    say(&app, &ann, &room.id, "l2", "@carol only").await;
    assert_eq!(notified(&mut carol_ws).await, "@carol only");
    no_frame_of_type(&mut bob_ws, "notification").await;

    // all: every message of others (not one's own).
    level(&bob, "all").await;
    say(&app, &ann, &room.id, "l3", "news").await;
    assert_eq!(notified(&mut bob_ws).await, "news");
    say(&app, &bob, &room.id, "l4", "my own").await;
    say(&app, &ann, &room.id, "l5", "more news").await;
    assert_eq!(notified(&mut bob_ws).await, "more news");

    // nothing: not even a mention; carol, mentioned with him, still is.
    level(&bob, "nothing").await;
    say(&app, &ann, &room.id, "l6", "@bob @carol both").await;
    assert_eq!(notified(&mut carol_ws).await, "@bob @carol both");
    no_frame_of_type(&mut bob_ws, "notification").await;

    // A DM notifies of everything by default.
    let (status, dm) = app
        .post("/api/dms", Some(&ann), json!({"usernames": ["carol"]}))
        .await;
    assert!(status == 200 || status == 201, "{dm}");
    say(&app, &ann, dm["id"].as_str().unwrap(), "d1", "psst").await;
    assert_eq!(notified(&mut carol_ws).await, "psst");
}

async fn everyone_mentions_follow_the_room_setting(store: StoreKind) {
    let app = spawn_on(store).await;
    let (ann_user, ann) = register(&app, "ann").await;
    let (bob_user, bob) = register(&app, "bob").await;
    let (carol_user, carol) = register(&app, "carol").await;
    let room = app.create_room(&ann, "Everyone").await;
    joined(&app, &bob, &room.id).await;
    joined(&app, &carol, &room.id).await;

    // @room: every member (the author too, for the highlight; they are never notified).
    let message = say(&app, &bob, &room.id, "e1", "@room lunch?").await;
    let mut ids: Vec<String> = serde_json::from_value(message["mentions"].clone()).unwrap();
    ids.sort();
    let mut all = vec![
        ann_user.id.clone(),
        bob_user.id.clone(),
        carol_user.id.clone(),
    ];
    all.sort();
    assert_eq!(ids, all);
    assert_eq!(counts(&app, &carol, &room.id).await.1, 1);
    assert_eq!(
        counts(&app, &bob, &room.id).await.1,
        0,
        "no mention of oneself counts"
    );

    // @here: the members online in the room (subscribed), here carol only.
    let mut carol_ws = app.ws(&carol).await;
    carol_ws.subscribe(&room.id, None).await;
    let message = say(&app, &bob, &room.id, "e2", "@here quick one").await;
    assert_eq!(message["mentions"], json!([carol_user.id]));

    // Restricted to moderators: bob's @room is plain text; the owner's still mentions.
    let (status, updated) = app
        .patch(
            &format!("/api/rooms/{}", room.id),
            Some(&ann),
            json!({"mention_everyone": "moderators"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["mention_everyone"], "moderators");
    let message = say(&app, &bob, &room.id, "e3", "@room again").await;
    assert_eq!(message["mentions"], json!([]));
    let message = say(&app, &ann, &room.id, "e4", "@room from the owner").await;
    assert_eq!(message["mentions"].as_array().unwrap().len(), 3);
    set_role(&app, &room.id, &bob_user.id, "moderator").await;
    let message = say(&app, &bob, &room.id, "e5", "@room as a moderator").await;
    assert_eq!(message["mentions"].as_array().unwrap().len(), 3);
    // Only moderators may change the setting; a bad value is refused.
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{}", room.id),
            Some(&carol),
            json!({"mention_everyone": "anyone"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .patch(
            &format!("/api/rooms/{}", room.id),
            Some(&ann),
            json!({"mention_everyone": "everybody"}),
        )
        .await;
    assert_eq!(status, 400);
}

crate::both_stores!(
    a_mention_reaches_only_people_who_may_read_the_room,
    levels_decide_who_is_notified,
    everyone_mentions_follow_the_room_setting,
);
