use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_registered_user_can_log_in_and_is_known_by_token_and_cookie() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "alice", "password": "correct horse battery staple"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["guest"], false);

    let resp = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "ALICE", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("palaver_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "alice");

    // The cookie alone also signs the browser in.
    let cookie_pair = cookie.split(';').next().unwrap();
    let me = app
        .http
        .get(app.url("/api/me"))
        .header("Cookie", cookie_pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn sign_up_errors_have_their_codes() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "al", "password": "violet kettle drum"}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "bad name", "password": "violet kettle drum"}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "bob", "password": "short"}),
            400,
            "weak_password",
        ),
        (json!({"username": "bob"}), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = app.post("/api/auth/register", None, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body}"
        );
    }
    let (status, _) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "bob", "password": "violet kettle drum"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "BOB", "password": "violet kettle drum"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (409, "username_taken")
    );
    let (status, body) = app
        .post("/api/auth/guest", None, json!({"username": "Bob"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (409, "username_taken")
    );
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let app = spawn_app().await;
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "carol", "password": "tangerine-otter-42"}),
    )
    .await;
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "carol", "password": "wrongpass"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "invalid_credentials")
    );
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "nobody", "password": "whatever1"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "invalid_credentials")
    );
    // A guest has no password to log in with.
    app.guest("guesty").await;
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "guesty", "password": "anything1"}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_guest_gets_a_session_unless_guests_are_switched_off() {
    let app = spawn_app().await;
    let (user, token) = app.guest("visitor").await;
    assert!(user.guest);
    let (status, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!((status, me["guest"].as_bool()), (200, Some(true)));

    let closed = crate::helpers::spawn_with(|c| c.allow_guests = false).await;
    let (status, body) = closed
        .post("/api/auth/guest", None, json!({"username": "visitor"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (403, "guests_disabled")
    );
}

#[tokio::test]
async fn a_logged_out_token_is_refused_on_rest_and_on_the_socket() {
    let app = spawn_app().await;
    let (_, token) = app.guest("leaver").await;
    let mut open = app.ws(&token).await;
    open.expect("hello").await;

    let (status, _) = app.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(status, 204);
    let (status, body) = app.get("/api/me", Some(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (401, "unauthenticated")
    );

    // The socket that was open is closed with 1008 …
    assert_eq!(
        open.expect_close().await,
        crate::helpers::Closed::Code(1008)
    );
    // … and a new one is refused with 1008.
    let mut again = app.ws(&token).await;
    let error = again.next().await;
    assert_eq!(error["code"], "unauthenticated");
    assert_eq!(
        again.expect_close().await,
        crate::helpers::Closed::Code(1008)
    );
}

#[tokio::test]
async fn requests_without_a_session_are_unauthenticated() {
    let app = spawn_app().await;
    for path in ["/api/me", "/api/rooms"] {
        let (status, body) = app.get(path, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (401, "unauthenticated")
        );
    }
    let (status, _) = app.get("/api/me", Some("made-up-token")).await;
    assert_eq!(status, 401);
}
