//! Pins (issue #10): pinning and unpinning are events with the room's next `seq` (a repeat
//! makes none), the room's pins list the newest pin first, who may pin follows the room's
//! `pins` setting (moderators by default, anyone in a DM), and a room holds at most 100.
//! Every test runs on SQLite and on PostgreSQL.

use serde_json::json;

use crate::helpers::{spawn_on_with, StoreKind};
use crate::moderation::{code, room_with_member};
use crate::reactions::{last_seq, post};

async fn pins_are_events_and_follow_the_rooms_setting(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let rest = app.rest();
    assert_eq!(room.pins, palaver::protocol::PinPolicy::Moderators);
    let one = post(&app, &owner_token, &room.id, "m1", "one").await;
    let two = post(&app, &member_token, &room.id, "m2", "two").await;
    let (one_id, two_id) = (one["id"].as_str().unwrap(), two["id"].as_str().unwrap());
    assert_eq!(one["pinned"], false);
    let mut ws = app.ws(&member_token).await;
    ws.subscribe(&room.id, None).await;

    // A member may not pin where only moderators may.
    let (status, body) = rest
        .pin(&member_token, &room.id, one_id, true)
        .await
        .unwrap();
    assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");

    let before = last_seq(&app, &owner_token, &room.id).await;
    let (status, body) = rest
        .pin(&owner_token, &room.id, one_id, true)
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let pinned = ws.expect_event("message.pinned").await;
    assert_eq!(pinned["seq"], before + 1);
    assert_eq!(pinned["message_id"], one_id);
    assert_eq!(pinned["by"]["id"], owner.id.as_str());
    // Again: nothing changes.
    let (status, _) = rest
        .pin(&owner_token, &room.id, one_id, true)
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(last_seq(&app, &owner_token, &room.id).await, before + 1);
    let (status, _) = rest
        .pin(&owner_token, &room.id, two_id, true)
        .await
        .unwrap();
    assert_eq!(status, 204);
    ws.expect_event("message.pinned").await;

    // The list: newest pin first; the messages say they are pinned, in the history too.
    let pins = rest.pins(&member_token, &room.id).await.unwrap();
    let ids: Vec<&str> = pins.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [two_id, one_id]);
    assert!(pins.iter().all(|m| m.pinned));
    assert!(app
        .history(&member_token, &room.id)
        .await
        .iter()
        .all(|m| m.pinned));

    // The owner lets anyone pin: one room.updated carrying the setting.
    let (status, updated) = app
        .patch(
            &format!("/api/rooms/{}", room.id),
            Some(&owner_token),
            json!({"pins": "anyone"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["pins"], "anyone");
    let event = ws.expect_event("room.updated").await;
    assert_eq!(event["room"]["pins"], "anyone");
    let (status, body) = app
        .patch(
            &format!("/api/rooms/{}", room.id),
            Some(&owner_token),
            json!({"pins": "everyone"}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");

    // Now the member may unpin; a repeat makes no event.
    let seq = last_seq(&app, &owner_token, &room.id).await;
    let (status, _) = rest
        .pin(&member_token, &room.id, one_id, false)
        .await
        .unwrap();
    assert_eq!(status, 204);
    let unpinned = ws.expect_event("message.unpinned").await;
    assert_eq!(
        (
            &unpinned["seq"],
            &unpinned["message_id"],
            &unpinned["by"]["id"]
        ),
        (&json!(seq + 1), &json!(one_id), &json!(member.id))
    );
    let (status, _) = rest
        .pin(&member_token, &room.id, one_id, false)
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(last_seq(&app, &owner_token, &room.id).await, seq + 1);

    // A deleted message leaves the pins; a missing one can't be pinned.
    let (status, _) = app
        .delete(
            &format!("/api/rooms/{}/messages/{two_id}", room.id),
            Some(&member_token),
        )
        .await;
    assert_eq!(status, 204);
    assert!(rest.pins(&owner_token, &room.id).await.unwrap().is_empty());
    let (status, body) = rest
        .pin(&owner_token, &room.id, two_id, true)
        .await
        .unwrap();
    assert_eq!((status, code(&body)), (404, "message_not_found"), "{body}");

    // Resume replays the pins as events, in order.
    let mut late = app.ws(&owner_token).await;
    let (replayed, _) = late.subscribe(&room.id, Some(before)).await;
    let kinds: Vec<&str> = replayed
        .iter()
        .map(|f| f["event"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "message.pinned",
            "message.pinned",
            "room.updated",
            "message.unpinned",
            "message.deleted"
        ]
    );
}

async fn dms_let_anyone_pin_and_a_room_holds_at_most_a_hundred(store: StoreKind) {
    let app = spawn_on_with(store, |config| config.rate_per_sec = 0).await;
    let (_, alice) = app.guest("alice").await;
    let (_, bob) = app.guest("bobby").await;
    let (status, dm) = app
        .post("/api/dms", Some(&alice), json!({"usernames": ["bobby"]}))
        .await;
    assert_eq!(status, 201, "{dm}");
    assert_eq!(dm["pins"], "anyone");
    let dm_id = dm["id"].as_str().unwrap();
    let m = post(&app, &alice, dm_id, "d1", "pin me").await;
    let (status, body) = app
        .rest()
        .pin(&bob, dm_id, m["id"].as_str().unwrap(), true)
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");

    let room = app.create_room(&alice, "Pinboard").await;
    let max = palaver::chat::validate::PINS_PER_ROOM_MAX;
    for i in 0..=max {
        let m = post(&app, &alice, &room.id, &format!("p{i}"), "pin").await;
        let (status, body) = app
            .rest()
            .pin(&alice, &room.id, m["id"].as_str().unwrap(), true)
            .await
            .unwrap();
        if i < max {
            assert_eq!(status, 204, "{body}");
        } else {
            assert_eq!((status, code(&body)), (409, "too_many_pins"), "{body}");
        }
    }
    assert_eq!(app.rest().pins(&alice, &room.id).await.unwrap().len(), max);
}

crate::both_stores!(
    pins_are_events_and_follow_the_rooms_setting,
    dms_let_anyone_pin_and_a_room_holds_at_most_a_hundred,
);
