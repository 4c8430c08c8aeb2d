use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_default_rooms_exist_from_the_first_start() {
    let app = spawn_app().await;
    let (_, token) = app.guest("first").await;
    let (status, rooms) = app.get("/api/rooms", Some(&token)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["General", "Random", "Tech Talk"]);
    for room in rooms.as_array().unwrap() {
        for field in [
            "id",
            "topic",
            "owner_id",
            "member_count",
            "online_count",
            "last_seq",
            "rearrange",
            "created_at",
        ] {
            assert!(room.get(field).is_some(), "room lacks {field}: {room}");
        }
    }
}

#[tokio::test]
async fn a_room_is_created_joined_left_and_deleted_by_its_owner_only() {
    let app = spawn_app().await;
    let (owner, owner_token) = app.guest("owner").await;
    let (_, other_token) = app.guest("other").await;
    let room = app.create_room(&owner_token, "Book Club").await;
    assert_eq!(room.owner_id.as_deref(), Some(owner.id.as_str()));
    assert_eq!(room.member_count, 1);

    let (status, body) = app
        .post(
            "/api/rooms",
            Some(&other_token),
            json!({"name": "book club"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (409, "room_name_taken")
    );
    for bad in [json!({"name": ""}), json!({"name": "x".repeat(65)})] {
        let (status, body) = app.post("/api/rooms", Some(&other_token), bad).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (400, "invalid_room_name")
        );
    }

    let (status, joined) = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            Some(&other_token),
            json!({}),
        )
        .await;
    assert_eq!((status, joined["member_count"].as_u64()), (200, Some(2)));
    let (_, members) = app
        .get(
            &format!("/api/rooms/{}/members", room.id),
            Some(&owner_token),
        )
        .await;
    let roles: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["owner", "member"]);

    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/leave", room.id),
            Some(&other_token),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let events = app.events(&owner_token, &room.id, 0).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["member.joined", "member.joined", "member.left"]);
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);

    let (status, body) = app
        .delete(&format!("/api/rooms/{}", room.id), Some(&other_token))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "forbidden")
    );
    let (status, _) = app
        .delete(&format!("/api/rooms/{}", room.id), Some(&owner_token))
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .get(&format!("/api/rooms/{}", room.id), Some(&owner_token))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (404, "room_not_found")
    );
    // The name is free again.
    app.create_room(&other_token, "Book Club").await;
}

#[tokio::test]
async fn subscribers_see_a_deleted_room_go() {
    let app = spawn_app().await;
    let (_, owner) = app.guest("owner").await;
    let (_, watcher) = app.guest("watcher").await;
    let room = app.create_room(&owner, "Short Lived").await;
    let mut ws = app.ws(&watcher).await;
    ws.subscribe(&room.id, None).await;
    app.delete(&format!("/api/rooms/{}", room.id), Some(&owner))
        .await;
    let event = ws.expect_event("room.deleted").await;
    assert_eq!(event["room_id"], room.id.as_str());
}

/// The harness runs a test on both stores: a room made on each is listed with its kind.
async fn a_new_room_is_public_and_listed(store: crate::helpers::StoreKind) {
    let app = crate::helpers::spawn_on(store).await;
    let (_, token) = app.guest("kinds").await;
    let room = app.create_room(&token, "Kinds").await;
    assert_eq!(room.kind, palaver::protocol::RoomKind::Public);
    let (status, rooms) = app.get("/api/rooms", Some(&token)).await;
    assert_eq!(status, 200);
    let listed = rooms.as_array().expect("a list");
    assert!(listed
        .iter()
        .any(|r| r["id"] == room.id.as_str() && r["kind"] == "public"));
}

crate::both_stores!(a_new_room_is_public_and_listed);
