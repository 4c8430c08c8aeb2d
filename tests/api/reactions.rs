//! Reactions (issue #10): each added or removed reaction is one event with the room's next
//! `seq`, replayed on resume; a repeat changes nothing and makes no event; messages carry their
//! reactions in a stable order; bad emoji, the per-message cap, mutes and missing messages get
//! their codes. Every test runs on SQLite and on PostgreSQL.

use palaver::protocol::Reaction;
use serde_json::{json, Value};

use crate::helpers::{spawn_on, spawn_on_with, StoreKind, TestApp};
use crate::moderation::{code, room_with_member};

/// The room's last `seq`, from its event log.
pub async fn last_seq(app: &TestApp, token: &str, room_id: &str) -> u64 {
    let (status, page) = app
        .get(
            &format!("/api/rooms/{room_id}/events?after=0&limit=1"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["last_seq"].as_u64().unwrap()
}

/// Sends a top-level message over REST: its JSON.
pub async fn post(app: &TestApp, token: &str, room_id: &str, client_id: &str, body: &str) -> Value {
    let (status, message) = app
        .post(
            &format!("/api/rooms/{room_id}/messages"),
            Some(token),
            json!({"client_id": client_id, "body": body}),
        )
        .await;
    assert_eq!(status, 201, "{message}");
    message
}

/// The message as the room's history shows it.
async fn shown(app: &TestApp, token: &str, room_id: &str, id: &str) -> palaver::protocol::Message {
    app.history(token, room_id)
        .await
        .into_iter()
        .find(|m| m.id == id)
        .expect("the message is in the history")
}

fn reaction(emoji: &str, user_ids: &[&String]) -> Reaction {
    Reaction {
        emoji: emoji.into(),
        count: user_ids.len() as u64,
        user_ids: user_ids.iter().map(|id| id.to_string()).collect(),
    }
}

async fn reactions_are_events_and_repeats_change_nothing(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let rest = app.rest();
    let message = post(&app, &owner_token, &room.id, "m1", "react to me").await;
    let message_id = message["id"].as_str().unwrap();
    let mut ws = app.ws(&member_token).await;
    ws.subscribe(&room.id, None).await;
    let before = last_seq(&app, &owner_token, &room.id).await;

    // Over REST: 204 and one event with the next seq.
    let (status, body) = rest
        .react(&owner_token, &room.id, message_id, "👍", true)
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let added = ws.expect_event("reaction.added").await;
    assert_eq!(added["seq"], before + 1);
    assert_eq!(added["message_id"], message_id);
    assert_eq!(added["emoji"], "👍");
    assert_eq!(added["user"]["id"], owner.id.as_str());

    // A repeat: 204, nothing new in the log.
    let (status, _) = rest
        .react(&owner_token, &room.id, message_id, "👍", true)
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(last_seq(&app, &owner_token, &room.id).await, before + 1);

    // Over the socket: the event is the answer.
    ws.react(&room.id, message_id, "🎉", true, "r1").await;
    let added = ws.expect_event("reaction.added").await;
    assert_eq!(
        (added["seq"].as_u64(), &added["emoji"], &added["user"]["id"]),
        (Some(before + 2), &json!("🎉"), &json!(member.id))
    );
    // A shortcode, percent-encoded in the path like any emoji.
    let (status, _) = rest
        .react(&member_token, &room.id, message_id, "👍", true)
        .await
        .unwrap();
    assert_eq!(status, 204);
    ws.expect_event("reaction.added").await;
    let (status, _) = rest
        .react(&member_token, &room.id, message_id, ":tada:", true)
        .await
        .unwrap();
    assert_eq!(status, 204);
    ws.expect_event("reaction.added").await;

    // The message carries them: one entry per emoji, first reacted first.
    let m = shown(&app, &owner_token, &room.id, message_id).await;
    assert_eq!(
        m.reactions,
        vec![
            reaction("👍", &[&owner.id, &member.id]),
            reaction("🎉", &[&member.id]),
            reaction(":tada:", &[&member.id]),
        ]
    );

    // Removing: one event; a repeat changes nothing; the socket's unreact too.
    let (status, _) = rest
        .react(&owner_token, &room.id, message_id, "👍", false)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let removed = ws.expect_event("reaction.removed").await;
    assert_eq!(removed["seq"], before + 5);
    assert_eq!(removed["user"]["id"], owner.id.as_str());
    let (status, _) = rest
        .react(&owner_token, &room.id, message_id, "👍", false)
        .await
        .unwrap();
    assert_eq!(status, 204);
    ws.react(&room.id, message_id, "🎉", false, "r2").await;
    let removed = ws.expect_event("reaction.removed").await;
    assert_eq!(removed["seq"], before + 6);
    ws.react(&room.id, message_id, "🎉", false, "r3").await;
    ws.send(json!({"type": "ping", "ref": "after"})).await;
    let pong = ws.expect("pong").await;
    assert_eq!(pong["ref"], "after");
    assert_eq!(last_seq(&app, &owner_token, &room.id).await, before + 6);
    let m = shown(&app, &owner_token, &room.id, message_id).await;
    assert_eq!(
        m.reactions,
        vec![
            reaction("👍", &[&member.id]),
            reaction(":tada:", &[&member.id])
        ]
    );

    // A client that was away resumes from its last seq and gets every one, in order.
    let mut late = app.ws(&owner_token).await;
    let (replayed, answer) = late.subscribe(&room.id, Some(before)).await;
    assert_eq!(answer["type"], "subscribed");
    let kinds: Vec<(u64, String)> = replayed
        .iter()
        .map(|f| {
            let e = &f["event"];
            (
                e["seq"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = [
        "reaction.added",
        "reaction.added",
        "reaction.added",
        "reaction.added",
        "reaction.removed",
        "reaction.removed",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| (before + 1 + i as u64, k.to_string()))
    .collect();
    assert_eq!(kinds, expected);
}

async fn bad_emoji_missing_messages_and_mutes_are_refused(store: StoreKind) {
    let (app, (_owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let rest = app.rest();
    let message = post(&app, &owner_token, &room.id, "m1", "hello").await;
    let message_id = message["id"].as_str().unwrap();
    let before = last_seq(&app, &owner_token, &room.id).await;
    let long = "😀".repeat(20);
    for bad in ["abc", "👍👍", ":Nope:", " ", "<script>", long.as_str()] {
        let (status, body) = rest
            .react(&member_token, &room.id, message_id, bad, true)
            .await
            .unwrap();
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_emoji"),
            "{bad:?}: {body}"
        );
    }
    let (status, body) = rest
        .react(
            &member_token,
            &room.id,
            "0123456789abcdef0123456789abcdef",
            "👍",
            true,
        )
        .await
        .unwrap();
    assert_eq!((status, code(&body)), (404, "message_not_found"), "{body}");
    let mut ws = app.ws(&member_token).await;
    ws.react(&room.id, message_id, "x", true, "bad").await;
    let error = ws.expect("error").await;
    assert_eq!(
        (&error["code"], &error["ref"]),
        (&json!("invalid_emoji"), &json!("bad"))
    );
    ws.react(&room.id, "nope", "👍", true, "missing").await;
    let error = ws.expect("error").await;
    assert_eq!(
        (&error["code"], &error["ref"]),
        (&json!("message_not_found"), &json!("missing"))
    );

    // A muted member may read but not react.
    let (status, body) = app
        .post(
            &format!("/api/rooms/{}/mutes", room.id),
            Some(&owner_token),
            json!({"user_id": member.id}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = rest
        .react(&member_token, &room.id, message_id, "👍", true)
        .await
        .unwrap();
    assert_eq!((status, code(&body)), (403, "muted"), "{body}");
    // Nothing of it reached the log but the mute.
    assert_eq!(last_seq(&app, &owner_token, &room.id).await, before + 1);
}

async fn a_message_holds_at_most_fifty_different_emoji(store: StoreKind) {
    let app = spawn_on_with(store, |config| config.rate_per_sec = 0).await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Many").await;
    let message = post(&app, &token, &room.id, "m1", "so many").await;
    let message_id = message["id"].as_str().unwrap();
    let rest = app.rest();
    for i in 0..palaver::chat::validate::REACTIONS_PER_MESSAGE_MAX {
        let (status, body) = rest
            .react(&token, &room.id, message_id, &format!(":e{i}:"), true)
            .await
            .unwrap();
        assert_eq!(status, 204, "{body}");
    }
    let (status, body) = rest
        .react(&token, &room.id, message_id, ":one-more:", true)
        .await
        .unwrap();
    assert_eq!((status, code(&body)), (409, "too_many_reactions"), "{body}");
    // Another person may still add one of the emoji already there.
    let (_, bob) = app.guest("bob").await;
    let (status, body) = rest
        .react(&bob, &room.id, message_id, ":e7:", true)
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
}

async fn deleting_or_clearing_takes_the_reactions_away(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("alice").await;
    let room = app.create_room(&token, "Gone").await;
    let rest = app.rest();
    let one = post(&app, &token, &room.id, "m1", "one").await;
    let two = post(&app, &token, &room.id, "m2", "two").await;
    for m in [&one, &two] {
        let (status, _) = rest
            .react(&token, &room.id, m["id"].as_str().unwrap(), "👍", true)
            .await
            .unwrap();
        assert_eq!(status, 204);
    }
    let one_id = one["id"].as_str().unwrap();
    let (status, _) = app
        .delete(
            &format!("/api/rooms/{}/messages/{one_id}", room.id),
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    // A deleted message takes no reactions, and lists none.
    let (status, body) = rest
        .react(&token, &room.id, one_id, "🎉", true)
        .await
        .unwrap();
    assert_eq!((status, code(&body)), (404, "message_not_found"));
    let history = app.history(&token, &room.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].reactions,
        vec![reaction("👍", &[&history[0].author.id])]
    );
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/clear", room.id),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let again = post(&app, &token, &room.id, "m3", "fresh").await;
    assert_eq!(again["reactions"], json!([]));
}

crate::both_stores!(
    reactions_are_events_and_repeats_change_nothing,
    bad_emoji_missing_messages_and_mutes_are_refused,
    a_message_holds_at_most_fifty_different_emoji,
    deleting_or_clearing_takes_the_reactions_away,
);
