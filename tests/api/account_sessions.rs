//! A person's sessions: the password change revokes the others, a session listed and revoked by
//! its public id (its socket closes), on both stores.

use serde_json::{json, Value};

use crate::helpers::{spawn_on, Closed, StoreKind, TestApp};
use crate::people::{register, PASSWORD};

const NEW_PASSWORD: &str = "violet lantern orbit meadow";

async fn login(app: &TestApp, name: &str, password: &str) -> (u16, Value) {
    app.post(
        "/api/auth/login",
        None,
        json!({"username": name, "password": password}),
    )
    .await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn a_password_change_revokes_the_other_sessions_and_keeps_this_one(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, here) = register(&app, "pat").await;
    let (_, other) = login(&app, "pat", PASSWORD).await;
    let other = other["token"].as_str().unwrap().to_string();
    let mut other_socket = app.ws(&other).await;
    other_socket.expect("hello").await;

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = app
        .post(
            "/api/me/password",
            Some(&here),
            change("wrong password here", NEW_PASSWORD),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "invalid_password"));
    let (status, body) = app
        .post("/api/me/password", Some(&here), change(PASSWORD, "short"))
        .await;
    assert_eq!((status, code(&body)), (400, "weak_password"));
    // Nothing changed yet: the other session still works.
    assert_eq!(app.get("/api/me", Some(&other)).await.0, 200);

    let (status, body) = app
        .post(
            "/api/me/password",
            Some(&here),
            change(PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        app.get("/api/me", Some(&here)).await.0,
        200,
        "this session stays"
    );
    assert_eq!(
        app.get("/api/me", Some(&other)).await.0,
        401,
        "the other is revoked"
    );
    assert_eq!(other_socket.expect_close().await, Closed::Code(1008));
    assert_eq!(login(&app, "pat", PASSWORD).await.0, 401);
    assert_eq!(login(&app, "pat", NEW_PASSWORD).await.0, 200);

    let (_, guest) = app.guest("passwordless").await;
    let (status, body) = app
        .post(
            "/api/me/password",
            Some(&guest),
            change("anything", NEW_PASSWORD),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
}

async fn sessions_are_listed_and_one_is_revoked_by_its_id(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, first) = register(&app, "sam").await;
    let (_, second) = login(&app, "sam", PASSWORD).await;
    let second = second["token"].as_str().unwrap().to_string();
    let mut second_socket = app.ws(&second).await;
    second_socket.expect("hello").await;

    let (status, sessions) = app.get("/api/me/sessions", Some(&first)).await;
    assert_eq!(status, 200);
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    // The one asking was seen just now; ids are not the tokens.
    assert!(current[0]["last_seen_at"].as_str().is_some());
    for s in &sessions {
        let id = s["id"].as_str().unwrap();
        assert!(id != first && id != second);
        assert!(s["created_at"].as_str().is_some() && s["expires_at"].as_str().is_some());
    }
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone else can't revoke it: to them it does not exist.
    let (_, stranger) = app.guest("stranger").await;
    let path = format!("/api/me/sessions/{other_id}");
    let (status, body) = app.delete(&path, Some(&stranger)).await;
    assert_eq!((status, code(&body)), (404, "session_not_found"));
    assert_eq!(app.get("/api/me", Some(&second)).await.0, 200);

    let (status, _) = app.delete(&path, Some(&first)).await;
    assert_eq!(status, 204);
    assert_eq!(second_socket.expect_close().await, Closed::Code(1008));
    assert_eq!(app.get("/api/me", Some(&second)).await.0, 401);
    assert_eq!(app.get("/api/me", Some(&first)).await.0, 200);
    let (_, sessions) = app.get("/api/me/sessions", Some(&first)).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    let (status, body) = app.delete(&path, Some(&first)).await;
    assert_eq!((status, code(&body)), (404, "session_not_found"));
}

/// A stolen session can't guess the password faster than the login form: wrong current
/// passwords count as failed logins of that username.
async fn wrong_current_passwords_count_as_failed_logins(store: StoreKind) {
    let app = crate::helpers::spawn_on_with(store, |c| c.login_per_user_per_min = 2).await;
    let (_, token) = register(&app, "guarded").await;
    let change = |current: &str| json!({"current_password": current, "new_password": NEW_PASSWORD});
    for _ in 0..2 {
        let (status, body) = app
            .post(
                "/api/me/password",
                Some(&token),
                change("guess guess guess"),
            )
            .await;
        assert_eq!((status, code(&body)), (403, "invalid_password"));
    }
    let (status, body) = app
        .post("/api/me/password", Some(&token), change(PASSWORD))
        .await;
    assert_eq!((status, code(&body)), (429, "rate_limited"));
    let (status, body) = app
        .http
        .delete(app.url("/api/me"))
        .bearer_auth(&token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let body: Value = body.json().await.unwrap();
    assert_eq!((status, code(&body)), (429, "rate_limited"));
    assert_eq!(login(&app, "guarded", PASSWORD).await.0, 429);
}

crate::both_stores!(
    wrong_current_passwords_count_as_failed_logins,
    a_password_change_revokes_the_other_sessions_and_keeps_this_one,
    sessions_are_listed_and_one_is_revoked_by_its_id,
);
