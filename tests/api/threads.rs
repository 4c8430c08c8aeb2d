//! Replies and threads (issue #10): a reply names a message of its room; a thread reply is a
//! room event like any message (the next `seq`, replayed on resume, idempotent by
//! `client_id`), but room history pages leave it out and the thread's own pages hold it; its
//! first message carries the thread's summary, right after every reply made or deleted.
//! Every test runs on SQLite and on PostgreSQL.

use serde_json::{json, Value};

use crate::helpers::{spawn_on, StoreKind};
use crate::moderation::{code, room_with_member};
use crate::reactions::{last_seq, post};

async fn thread_replies_are_room_events_outside_the_history(store: StoreKind) {
    let (app, (_owner, owner_token), (_member, member_token), room) = room_with_member(store).await;
    let rest = app.rest();
    let root = post(&app, &owner_token, &room.id, "root", "a thread starts here").await;
    let root_id = root["id"].as_str().unwrap();
    assert_eq!(root["thread"], Value::Null);
    let mut watcher = app.ws(&owner_token).await;
    watcher.subscribe(&room.id, None).await;
    let before = last_seq(&app, &owner_token, &room.id).await;

    // A thread reply over the socket: acked, and a message.created with the room's next seq
    // that carries the root's new summary.
    let mut ws = app.ws(&member_token).await;
    let ack = ws
        .send_in(&room.id, "t1", "first reply", None, Some(root_id))
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["thread_id"], root_id);
    let created = watcher.expect_event("message.created").await;
    assert_eq!(created["seq"], before + 1);
    assert_eq!(created["message"]["thread_id"], root_id);
    assert_eq!(created["thread"]["reply_count"], 1);
    assert_eq!(
        created["thread"]["last_reply_at"],
        created["message"]["created_at"]
    );
    let first = ack["message"]["id"].as_str().unwrap().to_string();

    // Over REST, naming the first reply as the thread: it goes into the root's thread.
    let (status, second) = rest
        .send_in(
            &owner_token,
            &room.id,
            "t2",
            "second reply",
            None,
            Some(&first),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(second.thread_id.as_deref(), Some(root_id));
    let created = watcher.expect_event("message.created").await;
    assert_eq!(created["seq"], before + 2);
    assert_eq!(created["thread"]["reply_count"], 2);

    // A retry of the same client_id answers the original and makes no event.
    let (status, again) = rest
        .send_in(
            &owner_token,
            &room.id,
            "t2",
            "second reply",
            None,
            Some(&first),
        )
        .await
        .unwrap();
    assert_eq!((status, &again.id), (200, &second.id));
    let ack = ws
        .send_in(&room.id, "t1", "first reply", None, Some(root_id))
        .await;
    assert_eq!(ack["message"]["id"], first.as_str());
    assert_eq!(last_seq(&app, &owner_token, &room.id).await, before + 2);

    // A top-level message after them: the history holds the root (with its summary) and it,
    // never the thread replies.
    let after = post(&app, &member_token, &room.id, "after", "back in the room").await;
    let history = app.history(&owner_token, &room.id).await;
    let ids: Vec<&str> = history.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [root_id, after["id"].as_str().unwrap()]);
    let summary = history[0].thread.as_ref().expect("the root has a thread");
    assert_eq!(summary.reply_count, 2);
    assert_eq!(summary.last_reply_at, second.created_at);

    // The thread's pages: the replies in order, without the root, paged like history.
    let page = rest
        .thread(&member_token, &room.id, root_id, None, 1)
        .await
        .unwrap();
    assert!(page.has_more);
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].id, second.id);
    let earlier = rest
        .thread(
            &member_token,
            &room.id,
            root_id,
            Some(&page.messages[0].position),
            50,
        )
        .await
        .unwrap();
    assert!(!earlier.has_more);
    let ids: Vec<&str> = earlier.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [first.as_str()]);
    let all = rest
        .thread(&member_token, &room.id, root_id, None, 50)
        .await
        .unwrap();
    assert_eq!(all.messages.len(), 2);
    assert!(all
        .messages
        .iter()
        .all(|m| m.thread_id.as_deref() == Some(root_id)));

    // A reply is no thread of its own.
    let (status, body) = app
        .get(
            &format!("/api/rooms/{}/threads/{first}/messages", room.id),
            Some(&owner_token),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "message_not_found"), "{body}");

    // Resuming from before the thread replays them as room events, in order.
    let mut late = app.ws(&member_token).await;
    let (replayed, _) = late.subscribe(&room.id, Some(before)).await;
    let seqs: Vec<u64> = replayed
        .iter()
        .map(|f| f["event"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [before + 1, before + 2, before + 3]);
    assert_eq!(replayed[0]["event"]["message"]["thread_id"], root_id);
    assert_eq!(replayed[1]["event"]["thread"]["reply_count"], 2);
}

async fn replies_name_a_message_of_the_same_room(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Replies").await;
    let other = app.create_room(&token, "Elsewhere").await;
    let rest = app.rest();
    let original = post(&app, &token, &room.id, "m1", "the question").await;
    let original_id = original["id"].as_str().unwrap();
    let (status, reply) = rest
        .send_in(
            &token,
            &room.id,
            "m2",
            "the answer",
            Some(original_id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(reply.reply_to.as_deref(), Some(original_id));
    assert_eq!(reply.thread_id, None);
    let history = app.history(&token, &room.id).await;
    assert_eq!(history.len(), 2, "a reply is a top-level message");
    assert_eq!(history[1].reply_to.as_deref(), Some(original_id));

    // Naming a message of another room, or none at all, is refused and stores nothing.
    let elsewhere = post(&app, &token, &other.id, "o1", "over there").await;
    let before = last_seq(&app, &token, &room.id).await;
    for (client_id, reply_to, thread_id) in [
        ("x1", elsewhere["id"].as_str(), None),
        ("x2", None, elsewhere["id"].as_str()),
        ("x3", Some("0123456789abcdef0123456789abcdef"), None),
        ("x4", None, Some("no-such-message")),
    ] {
        let body = json!({"client_id": client_id, "body": "x", "reply_to": reply_to,
            "thread_id": thread_id});
        let (status, answer) = app
            .post(
                &format!("/api/rooms/{}/messages", room.id),
                Some(&token),
                body,
            )
            .await;
        assert_eq!(
            (status, code(&answer)),
            (404, "message_not_found"),
            "{answer}"
        );
    }
    let long = "x".repeat(5000);
    let body = json!({"client_id": "x5", "body": "x", "reply_to": long});
    let (status, answer) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&token),
            body,
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (404, "message_not_found"),
        "{answer}"
    );
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    let answer = ws
        .send_in(
            &room.id,
            "x6",
            "x",
            None,
            Some("0123456789abcdef0123456789abcdef"),
        )
        .await;
    assert_eq!(
        (&answer["type"], &answer["code"]),
        (&json!("error"), &json!("message_not_found"))
    );
    assert_eq!(last_seq(&app, &token, &room.id).await, before);
}

async fn thread_replies_keep_their_order_and_go_with_their_root(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Threads").await;
    let rest = app.rest();
    let root = post(&app, &token, &room.id, "root", "root").await;
    let root_id = root["id"].as_str().unwrap();
    let top = post(&app, &token, &room.id, "top", "top").await;
    let mut replies = Vec::new();
    for i in 0..3 {
        let (_, m) = rest
            .send_in(
                &token,
                &room.id,
                &format!("r{i}"),
                &format!("reply {i}"),
                None,
                Some(root_id),
            )
            .await
            .unwrap();
        replies.push(m);
    }
    let base = format!("/api/rooms/{}/messages", room.id);
    // Moves: a thread reply can't move, nor can a message move after one.
    let (status, body) = app
        .post(
            &format!("{base}/{}/move", replies[0].id),
            Some(&token),
            json!({"after": null}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "thread_order"), "{body}");
    let (status, body) = app
        .post(
            &format!("{base}/{}/move", top["id"].as_str().unwrap()),
            Some(&token),
            json!({"after": replies[1].id}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "thread_order"), "{body}");
    // A top-level move still works, and leaves the thread as it was.
    let (status, body) = app
        .post(
            &format!("{base}/{}/move", top["id"].as_str().unwrap()),
            Some(&token),
            json!({"after": null}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let history = app.history(&token, &room.id).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].id, root_id);

    // Deleting a reply: one message.deleted naming its thread and the new summary.
    let mut ws = app.ws(&token).await;
    ws.subscribe(&room.id, None).await;
    let (status, _) = app
        .delete(&format!("{base}/{}", replies[2].id), Some(&token))
        .await;
    assert_eq!(status, 204);
    let deleted = ws.expect_event("message.deleted").await;
    assert_eq!(deleted["message_id"], replies[2].id.as_str());
    assert_eq!(deleted["thread_id"], root_id);
    assert_eq!(deleted["thread"]["reply_count"], 2);
    assert_eq!(
        deleted["thread"]["last_reply_at"],
        replies[1].created_at.as_str()
    );
    let history = app.history(&token, &room.id).await;
    let summary = history[1].thread.clone().unwrap();
    assert_eq!(
        (summary.reply_count, summary.last_reply_at),
        (2, replies[1].created_at.clone())
    );
    let page = rest
        .thread(&token, &room.id, root_id, None, 50)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);

    // Deleting the root: one message.deleted, and its replies are gone with it.
    let before = last_seq(&app, &token, &room.id).await;
    let (status, _) = app.delete(&format!("{base}/{root_id}"), Some(&token)).await;
    assert_eq!(status, 204);
    let deleted = ws.expect_event("message.deleted").await;
    assert_eq!(deleted["message_id"], root_id);
    assert_eq!(deleted["seq"], before + 1);
    assert!(deleted.get("thread_id").is_none(), "{deleted}");
    assert_eq!(last_seq(&app, &token, &room.id).await, before + 1);
    let (status, body) = app
        .get(
            &format!("/api/rooms/{}/threads/{root_id}/messages", room.id),
            Some(&token),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "message_not_found"));
    let (status, body) = app
        .patch(
            &format!("{base}/{}", replies[0].id),
            Some(&token),
            json!({"body": "edit"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (404, "message_not_found"),
        "a reply went with its root"
    );
    // Their text is gone from the log too.
    let events = app.events(&token, &room.id, 0).await;
    for event in events {
        if let palaver::protocol::EventKind::MessageCreated { message, .. } = event.kind {
            if message.thread_id.as_deref() == Some(root_id) || message.id == root_id {
                assert_eq!(message.body, "", "erased: {}", message.id);
            }
        }
    }
    // A new thread can't start on a deleted message.
    let (status, body) = app
        .post(
            &base,
            Some(&token),
            json!({"client_id": "late", "body": "x", "thread_id": root_id}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "message_not_found"));
}

crate::both_stores!(
    thread_replies_are_room_events_outside_the_history,
    replies_name_a_message_of_the_same_room,
    thread_replies_keep_their_order_and_go_with_their_root,
);
