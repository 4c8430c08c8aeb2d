//! Paged lists (issue 23 item 10): `GET /api/rooms` and `GET …/members` take `limit` and `after`,
//! stay JSON arrays, and say where the next page is in a `Link: <…>; rel="next"` header.

use serde_json::Value;

use crate::helpers::{spawn_on, StoreKind, TestApp};

/// One GET: status, body, and the `rel="next"` target of its `Link` header.
async fn page(app: &TestApp, path: &str, token: &str) -> (u16, Value, Option<String>) {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let next = response
        .headers()
        .get("link")
        .map(|v| v.to_str().expect("an ASCII Link").to_string())
        .map(|link| {
            let target = link
                .strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .unwrap_or_else(|| panic!("a next link: {link}"));
            target.0.to_string()
        });
    let body = response.json().await.expect("a JSON body");
    (status, body, next)
}

/// Follows `Link` from `first` to the end: every page's ids, in order.
async fn walk(
    app: &TestApp,
    first: &str,
    token: &str,
    id: fn(&Value) -> String,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(path) = next.take() {
        let (status, body, link) = page(app, &path, token).await;
        assert_eq!(status, 200, "{path}: {body}");
        let items = body.as_array().expect("a JSON array");
        pages.push(items.iter().map(id).collect());
        next = link;
        assert!(pages.len() <= 10, "the pages end");
    }
    pages
}

fn room_id(room: &Value) -> String {
    room["id"].as_str().expect("an id").to_string()
}

fn member_id(member: &Value) -> String {
    member["user"]["id"].as_str().expect("an id").to_string()
}

async fn rooms_come_in_pages_that_add_up_to_the_list(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("pager").await;
    app.create_room(&token, "Fourth").await;
    app.create_room(&token, "Fifth").await;
    // Without parameters: the whole list, no Link (an ordinary install sees no change).
    let (status, all, next) = page(&app, "/api/rooms", &token).await;
    assert_eq!((status, next), (200, None));
    let all: Vec<String> = all
        .as_array()
        .expect("an array")
        .iter()
        .map(room_id)
        .collect();
    assert_eq!(all.len(), 5);
    let pages = walk(&app, "/api/rooms?limit=2", &token, room_id).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    assert_eq!(pages.concat(), all, "the pages are the list, in its order");
    // A room made between two pages, after the cursor, is on a later page; nothing repeats.
    let (_, first, next) = page(&app, "/api/rooms?limit=2", &token).await;
    app.create_room(&token, "Sixth").await;
    let rest = walk(&app, &next.expect("more"), &token, room_id)
        .await
        .concat();
    let first: Vec<String> = first.as_array().unwrap().iter().map(room_id).collect();
    assert_eq!([first, rest].concat().len(), 6);
    // The limit covers the whole list exactly: no Link.
    let (_, body, next) = page(&app, "/api/rooms?limit=6", &token).await;
    assert_eq!((body.as_array().unwrap().len(), next), (6, None));
}

async fn members_come_in_pages_in_join_order(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, owner) = app.guest("host").await;
    let room = app.create_room(&owner, "Crowded").await;
    let mut joined = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..4 {
        let (user, token) = app.guest(&format!("joiner{i}")).await;
        let (status, _) = app
            .post(
                &format!("/api/rooms/{}/join", room.id),
                Some(&token),
                Value::Null,
            )
            .await;
        assert_eq!(status, 200);
        joined.push(user.id);
        tokens.push(token);
    }
    let path = format!("/api/rooms/{}/members", room.id);
    let (status, all, next) = page(&app, &path, &owner).await;
    assert_eq!((status, next), (200, None));
    let all: Vec<String> = all.as_array().unwrap().iter().map(member_id).collect();
    assert_eq!(all.len(), 5);
    assert_eq!(all[1..], joined[..], "join order");
    let pages = walk(&app, &format!("{path}?limit=2"), &owner, member_id).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    assert_eq!(pages.concat(), all);
    // The last member of a page leaves before the next page is read: the cursor still holds
    // (it is the member's place, not the member), and the next page goes on after it.
    let (_, first, next) = page(&app, &format!("{path}?limit=2"), &owner).await;
    let first: Vec<String> = first.as_array().unwrap().iter().map(member_id).collect();
    assert_eq!(first.last(), Some(&joined[0]));
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/leave", room.id),
            Some(&tokens[0]),
            Value::Null,
        )
        .await;
    assert_eq!(status, 204);
    let rest = walk(&app, &next.expect("more"), &owner, member_id)
        .await
        .concat();
    assert_eq!(rest, all[2..]);
}

async fn bad_limits_and_cursors_are_refused(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = app.guest("prober").await;
    let (_, rooms, _) = page(&app, "/api/rooms", &token).await;
    let general = room_id(&rooms[0]);
    for path in [
        "/api/rooms?limit=0".to_string(),
        "/api/rooms?limit=1001".to_string(),
        "/api/rooms?limit=-1".to_string(),
        "/api/rooms?after=not-a-cursor".to_string(),
        "/api/rooms?after=".to_string(),
        format!("/api/rooms/{general}/members?limit=0"),
        format!("/api/rooms/{general}/members?limit=1001"),
        format!("/api/rooms/{general}/members?after=%00%01"),
    ] {
        let (status, body, _) = page(&app, &path, &token).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {body}"
        );
    }
    let (status, body, _) = page(&app, "/api/rooms?limit=1000", &token).await;
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(3)));
}

crate::both_stores!(
    rooms_come_in_pages_that_add_up_to_the_list,
    members_come_in_pages_in_join_order,
    bad_limits_and_cursors_are_refused
);
