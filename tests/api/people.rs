//! Site admins (the first account, `palaver admin`), profiles, the directory and `/api/config`,
//! on both stores.

use serde_json::{json, Value};

use crate::helpers::{spawn_on, spawn_on_with, StoreKind, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";

/// Registers `name`: (the 201 body, the token).
pub async fn register(app: &TestApp, name: &str) -> (Value, String) {
    let (status, body) = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    (body, token)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn the_first_registered_account_is_the_site_admin(store: StoreKind) {
    let app = spawn_on(store).await;
    // A guest first does not count: guests are never made admins.
    let (guest, _) = app.guest("early-guest").await;
    assert!(!guest.admin);
    let (first, token) = register(&app, "founder").await;
    assert_eq!(first["first_admin"], true, "{first}");
    assert_eq!(first["user"]["admin"], true);
    let (_, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!(me["admin"], true);
    let (second, _) = register(&app, "later").await;
    assert_eq!(second["first_admin"], false);
    assert_eq!(second["user"]["admin"], false);
    // Signing in again is not a first registration.
    let (status, login) = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "founder", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (login["first_admin"].clone(), login["user"]["admin"].clone()),
        (json!(false), json!(true))
    );
}

/// The site admin moderates rooms it does not own: it deletes another's message and clears.
async fn the_site_admin_moderates_every_room(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, admin) = register(&app, "siteadmin").await;
    let (_, plain) = register(&app, "plainuser").await;
    let (_, owner) = app.guest("roomowner").await;
    let room = app.create_room(&owner, "Not Theirs").await;
    let (_, message) = app
        .post(
            &format!("/api/rooms/{}/messages", room.id),
            Some(&owner),
            json!({"client_id": "m1", "body": "moderate me"}),
        )
        .await;
    let path = format!(
        "/api/rooms/{}/messages/{}",
        room.id,
        message["id"].as_str().unwrap()
    );
    let (status, body) = app.delete(&path, Some(&plain)).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, _) = app.delete(&path, Some(&admin)).await;
    assert_eq!(status, 204);
    let clear = format!("/api/rooms/{}/clear", room.id);
    assert_eq!(app.post(&clear, Some(&plain), json!({})).await.0, 403);
    assert_eq!(app.post(&clear, Some(&admin), json!({})).await.0, 204);
}

async fn concurrent_first_registrations_make_exactly_one_admin(store: StoreKind) {
    let app = spawn_on(store).await;
    let names: Vec<String> = (0..6).map(|i| format!("racer{i}")).collect();
    let bodies =
        futures_util::future::join_all(names.iter().map(|name| register(&app, name))).await;
    let firsts = bodies
        .iter()
        .filter(|(b, _)| b["first_admin"] == true)
        .count();
    let admins = bodies
        .iter()
        .filter(|(b, _)| b["user"]["admin"] == true)
        .count();
    assert_eq!((firsts, admins), (1, 1), "{bodies:?}");
    let (_, token) = &bodies[0];
    let (status, users) = app.get("/api/users?q=racer", Some(token)).await;
    assert_eq!(status, 200);
    let listed = users.as_array().unwrap();
    assert_eq!(listed.len(), 6);
    assert_eq!(listed.iter().filter(|u| u["admin"] == true).count(), 1);
}

/// Runs the real binary against a store: (exit code, stdout, stderr).
fn palaver(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_palaver"));
    command.env_clear().args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_admin_command_grants_and_revokes_on_the_configured_store(store: StoreKind) {
    // Postgres: the command gets PALAVER_DATABASE_URL; SQLite: --data-dir.
    let db = match store {
        StoreKind::Postgres => Some(crate::pgdb::TestDatabase::create().await),
        StoreKind::Sqlite => None,
    };
    let url = db.as_ref().map(|db| db.url.clone());
    let app = crate::helpers::spawn_with({
        let url = url.clone();
        move |c| c.database_url = url
    })
    .await;
    register(&app, "owner").await;
    let (_, token) = register(&app, "bob").await;
    let dir = app.data_dir.display().to_string();
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(url) = &url {
        env.push(("PALAVER_DATABASE_URL", url));
    }
    let base = ["--data-dir", dir.as_str(), "admin"];
    let with = |rest: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(rest.iter().copied()).collect()
    };

    let (code_, out, err) = palaver(&with(&["grant", "BOB"]), &env);
    assert_eq!(code_, 0, "{out} {err}");
    assert!(out.contains("bob is now a site admin"), "{out}");
    let (_, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!(me["admin"], true, "the running server reads the change");

    let (code_, out, err) = palaver(&with(&["revoke", "bob"]), &env);
    assert_eq!(code_, 0, "{out} {err}");
    assert!(out.contains("bob is no longer a site admin"), "{out}");
    let (_, me) = app.get("/api/me", Some(&token)).await;
    assert_eq!(me["admin"], false);

    let (code_, _, err) = palaver(&with(&["grant", "nobody-here"]), &env);
    assert_eq!(code_, 1, "{err}");
    assert!(err.contains("no account is named \"nobody-here\""), "{err}");
    // A malformed command line is clap's usage error.
    let (code_, _, _) = palaver(&with(&["promote", "bob"]), &env);
    assert_eq!(code_, 2);
    // A store that can't be reached.
    if store == StoreKind::Postgres {
        let bad = [(
            "PALAVER_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )];
        let (code_, _, err) = palaver(&with(&["grant", "bob"]), &bad);
        assert_eq!(code_, 3, "{err}");
        assert!(err.starts_with("palaver admin: "), "{err}");
    }
    drop(app);
    drop(db);
}

async fn a_profile_is_set_read_and_cleared(store: StoreKind) {
    let app = spawn_on(store).await;
    let (body, token) = register(&app, "ann").await;
    let id = body["user"]["id"].as_str().unwrap().to_string();
    let (_, other) = app.guest("reader").await;

    let (status, user) = app
        .patch(
            "/api/me",
            Some(&token),
            json!({"display_name": "  Ann Lee ", "bio": "Writes things.\nReads more.", "timezone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        (user["id"].as_str(), user["display_name"].as_str()),
        (Some(id.as_str()), Some("Ann Lee"))
    );

    let (status, profile) = app.get(&format!("/api/users/{id}"), Some(&other)).await;
    assert_eq!(status, 200);
    assert_eq!(profile["user"]["display_name"], "Ann Lee");
    assert_eq!(profile["bio"], "Writes things.\nReads more.");
    assert_eq!(profile["timezone"], "Europe/Paris");
    assert!(profile["created_at"].as_str().unwrap().ends_with('Z'));

    // Absent fields stay; null clears.
    let (status, user) = app
        .patch("/api/me", Some(&token), json!({"timezone": null}))
        .await;
    assert_eq!(
        (status, user["display_name"].as_str()),
        (200, Some("Ann Lee"))
    );
    let (_, profile) = app.get(&format!("/api/users/{id}"), Some(&other)).await;
    assert_eq!(
        (profile["timezone"].clone(), profile["bio"].as_str()),
        (Value::Null, Some("Writes things.\nReads more."))
    );
    let (_, user) = app
        .patch("/api/me", Some(&token), json!({"display_name": ""}))
        .await;
    assert_eq!(user["display_name"], Value::Null);

    for bad in [
        json!({"display_name": "ann\u{202e}evil"}),
        json!({"display_name": "x".repeat(65)}),
        json!({"bio": "b".repeat(501)}),
        json!({"timezone": "../../etc/passwd"}),
    ] {
        let (status, body) = app.patch("/api/me", Some(&token), bad.clone()).await;
        assert_eq!((status, code(&body)), (400, "invalid_profile"), "{bad}");
    }
    let (status, body) = app.get("/api/users/no-such-id", Some(&other)).await;
    assert_eq!((status, code(&body)), (404, "user_not_found"));
    let (status, _) = app.get(&format!("/api/users/{id}"), None).await;
    assert_eq!(status, 401);
}

async fn the_directory_matches_prefixes_of_names_ignoring_case(store: StoreKind) {
    let app = spawn_on(store).await;
    let (_, token) = register(&app, "carol").await;
    let (_, c2) = register(&app, "Carl_x").await;
    app.guest("carlos").await;
    app.guest("dave").await;
    app.patch(
        "/api/me",
        Some(&c2),
        json!({"display_name": "Élodie Martin"}),
    )
    .await;

    let names = |users: &Value| -> Vec<String> {
        users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, users) = app.get("/api/users?q=CAR", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(names(&users), ["Carl_x", "carlos", "carol"]);
    // `_` is a literal, not a LIKE wildcard.
    let (_, users) = app.get("/api/users?q=carl_", Some(&token)).await;
    assert_eq!(names(&users), ["Carl_x"]);
    // Display names match too, ignoring case beyond ASCII.
    let (_, users) = app.get("/api/users?q=%C3%A9lo", Some(&token)).await;
    assert_eq!(names(&users), ["Carl_x"]);
    let (_, users) = app.get("/api/users?q=car&limit=2", Some(&token)).await;
    assert_eq!(users.as_array().unwrap().len(), 2);
    let (_, users) = app.get("/api/users", Some(&token)).await;
    assert_eq!(users.as_array().unwrap().len(), 4);
    for bad in ["limit=0", "limit=51", "limit=x"] {
        let (status, body) = app.get(&format!("/api/users?{bad}"), Some(&token)).await;
        assert_eq!((status, code(&body)), (400, "invalid_request"), "{bad}");
    }
    let (status, _) = app.get("/api/users", None).await;
    assert_eq!(status, 401);
}

async fn the_config_tells_the_sign_in_page_about_guests(store: StoreKind) {
    let app = spawn_on_with(store, |c| c.guest_name_grace_secs = 42).await;
    let (status, config) = app.get("/api/config", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({"allow_guests": true, "guest_name_grace_secs": 42})
    );
    let closed = spawn_on_with(store, |c| c.allow_guests = false).await;
    let (_, config) = closed.get("/api/config", None).await;
    assert_eq!(config["allow_guests"], false);
}

/// Two changes to one profile at once (a tab saving the name and bio while another sends the
/// browser's time zone, as the web client does at sign-in) each change only their own fields:
/// the time zone never undoes the name. (Before, each change read the whole profile and wrote it
/// back, and a time zone sent at the wrong moment cleared the name just saved.)
async fn concurrent_profile_changes_keep_each_others_fields(store: StoreKind) {
    let app = spawn_on(store).await;
    let (body, token) = register(&app, "ann").await;
    let id = body["user"]["id"].as_str().unwrap().to_string();
    for round in 0..10 {
        let name = format!("Ann {round}");
        let bio = format!("bio {round}");
        let zone = if round % 2 == 0 {
            "Asia/Tokyo"
        } else {
            "Europe/Paris"
        };
        let named = app.patch(
            "/api/me",
            Some(&token),
            json!({"display_name": name, "bio": bio}),
        );
        let zoned = async {
            let mut answers = Vec::new();
            for _ in 0..4 {
                answers.push(
                    app.patch("/api/me", Some(&token), json!({"timezone": zone}))
                        .await,
                );
            }
            answers
        };
        let ((status, _), zoned) = tokio::join!(named, zoned);
        assert_eq!(status, 200);
        assert!(zoned.iter().all(|(status, _)| *status == 200));
        let (_, profile) = app.get(&format!("/api/users/{id}"), Some(&token)).await;
        assert_eq!(
            (
                profile["user"]["display_name"].as_str(),
                profile["bio"].as_str(),
                profile["timezone"].as_str()
            ),
            (Some(name.as_str()), Some(bio.as_str()), Some(zone)),
            "round {round}"
        );
    }
}

/// A socket keeps the user it signed in as; after a profile change its messages, edits and
/// typing still carry the new name (history always did: it reads the users table).
async fn a_profile_change_reaches_the_messages_of_an_open_socket(store: StoreKind) {
    let app = spawn_on(store).await;
    let (alice, alice_token) = app.guest("alice").await;
    let (_, bob_token) = app.guest("bob").await;
    let room = app.create_room(&alice_token, "Names").await;
    let mut alice_ws = app.ws(&alice_token).await;
    alice_ws.subscribe(&room.id, None).await;
    let mut bob_ws = app.ws(&bob_token).await;
    bob_ws.subscribe(&room.id, None).await;
    let (status, me) = app
        .patch(
            "/api/me",
            Some(&alice_token),
            json!({"display_name": "Alice Liddell"}),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    let ack = alice_ws.send_message(&room.id, "n1", "new name").await;
    assert_eq!(
        ack["message"]["author"]["display_name"], "Alice Liddell",
        "{ack}"
    );
    let event = bob_ws.expect_event("message.created").await;
    assert_eq!(event["message"]["author"]["id"], alice.id.as_str());
    assert_eq!(event["message"]["author"]["display_name"], "Alice Liddell");
}

crate::both_stores!(
    a_profile_change_reaches_the_messages_of_an_open_socket,
    concurrent_profile_changes_keep_each_others_fields,
    the_first_registered_account_is_the_site_admin,
    the_site_admin_moderates_every_room,
    concurrent_first_registrations_make_exactly_one_admin,
    the_admin_command_grants_and_revokes_on_the_configured_store,
    a_profile_is_set_read_and_cleared,
    the_directory_matches_prefixes_of_names_ignoring_case,
    the_config_tells_the_sign_in_page_about_guests,
);
