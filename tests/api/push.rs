//! Web Push (issue #10), for real up to the push service: the test is the push service (an HTTP
//! endpoint on 127.0.0.1) and the browser (its own P-256 key pair and auth secret). It decrypts
//! the `aes128gcm` body as RFC 8291 says, checks the payload, and checks the VAPID header
//! (an ES256 JWT for the endpoint's origin, signed with the key `GET /api/push/key` gives).
//! A 410 from the endpoint deletes the subscription. Every test runs on SQLite and PostgreSQL.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::helpers::{spawn_on_with, StoreKind, TestApp, WAIT};
use crate::moderation::code;
use crate::unread::{register, say};

/// One request the push endpoint got.
struct Pushed {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A push service on 127.0.0.1: its base URL, what it receives, and the status it answers
/// (settable).
async fn push_service() -> (String, mpsc::UnboundedReceiver<Pushed>, Arc<AtomicU16>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let status = Arc::new(AtomicU16::new(201));
    let answer = status.clone();
    let app = axum::Router::new().route(
        "/push/{id}",
        axum::routing::post(
            move |axum::extract::Path(id): axum::extract::Path<String>,
                  headers: HeaderMap,
                  body: Bytes| {
                let tx = tx.clone();
                let answer = answer.clone();
                async move {
                    let _ = tx.send(Pushed {
                        path: format!("/push/{id}"),
                        headers,
                        body,
                    });
                    StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, rx, status)
}

/// A browser's subscription keys: its secret key, and `keys` as the browser hands them.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut auth);
        Browser {
            secret: p256::SecretKey::random(&mut rand::rngs::OsRng),
            auth,
        }
    }

    fn public(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn keys(&self) -> Value {
        json!({"p256dh": URL_SAFE_NO_PAD.encode(self.public()), "auth": URL_SAFE_NO_PAD.encode(self.auth)})
    }

    /// Decrypts an `aes128gcm` body (RFC 8188 header, one record) as RFC 8291 says.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
        let id_len = body[20] as usize;
        let sender = &body[21..21 + id_len];
        let sealed = &body[21 + id_len..];
        assert!(sealed.len() <= record_size as usize, "one record");
        let sender_key = p256::PublicKey::from_sec1_bytes(sender).expect("the key id is a point");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender_key.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.public());
        info.extend_from_slice(sender);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes().as_slice())
            .expand(&info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut key, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut key)
            .unwrap();
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .unwrap();
        let mut plain = aes_gcm::Aes128Gcm::new_from_slice(&key)
            .unwrap()
            .decrypt(aes_gcm::Nonce::from_slice(&nonce), sealed)
            .expect("the body decrypts with the browser's keys");
        // The last record ends with 0x02 after its text, then optional zero padding.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last-record delimiter");
        plain
    }
}

/// Checks the VAPID `Authorization` header against the server's public key and the endpoint's
/// origin.
fn check_vapid(headers: &HeaderMap, public_key: &str, origin: &str) {
    let header = headers["authorization"].to_str().unwrap();
    let rest = header.strip_prefix("vapid t=").expect("the vapid scheme");
    let (jwt, k) = rest.split_once(", k=").expect("t and k");
    assert_eq!(k, public_key, "k is the key GET /api/push/key gives");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], origin);
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within the next 24 hours"
    );
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
    let key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
    let signature =
        p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT is signed with the server's VAPID key");
}

async fn spawn_push(store: StoreKind) -> TestApp {
    spawn_on_with(store, |config| config.push_allow_insecure = true).await
}

async fn next_push(rx: &mut mpsc::UnboundedReceiver<Pushed>) -> Pushed {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a push arrives in time")
        .expect("the endpoint is up")
}

/// DELETE with a JSON body.
async fn delete_with(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    palaver_client::rest::call(
        &app.http,
        reqwest::Method::DELETE,
        &app.url(path),
        Some(token),
        Some(&body),
    )
    .await
    .unwrap()
}

async fn a_mention_is_pushed_encrypted_and_signed(store: StoreKind) {
    let app = spawn_push(store).await;
    let (base, mut pushes, answer) = push_service().await;
    let (_, ann) = register(&app, "ann").await;
    let (_, bob) = register(&app, "bob").await;
    let (status, key) = app.get("/api/push/key", Some(&bob)).await;
    assert_eq!(status, 200);
    let public_key = key["public_key"].as_str().unwrap().to_string();
    assert_eq!(URL_SAFE_NO_PAD.decode(&public_key).unwrap().len(), 65);

    let browser = Browser::new();
    let endpoint = format!("{base}/push/bob-1");
    let (status, body) = app
        .post(
            "/api/push/subscriptions",
            Some(&bob),
            json!({"endpoint": endpoint, "keys": browser.keys(), "expirationTime": null}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let room = app.create_room(&ann, "Pushy").await;
    let message = say(&app, &ann, &room.id, "p1", "hey @bob, lunch?").await;
    let pushed = next_push(&mut pushes).await;
    assert_eq!(pushed.path, "/push/bob-1");
    assert_eq!(pushed.headers["content-encoding"], "aes128gcm");
    assert!(pushed.headers.contains_key("ttl"));
    check_vapid(&pushed.headers, &public_key, &base);
    let payload: Value = serde_json::from_slice(&browser.decrypt(&pushed.body)).unwrap();
    assert_eq!(
        payload,
        json!({"room_id": room.id, "room_name": "Pushy", "message_id": message["id"],
            "seq": message["seq"], "author": "ann", "body": "hey @bob, lunch?", "mention": true})
    );

    // The push service says the subscription is gone: the server deletes it.
    answer.store(410, Ordering::SeqCst);
    say(&app, &ann, &room.id, "p2", "@bob?").await;
    next_push(&mut pushes).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let count = "SELECT COUNT(*) FROM push_subscriptions WHERE endpoint = $1";
    while app.store_count(count, &[&endpoint]).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the subscription is deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The key is the store's: the same after a restart.
    let app = app.restart().await;
    let (_, again) = app.get("/api/push/key", Some(&bob)).await;
    assert_eq!(again["public_key"], public_key.as_str());
}

async fn subscriptions_are_checked_and_only_readers_are_pushed(store: StoreKind) {
    let app = spawn_push(store).await;
    let (base, mut pushes, _) = push_service().await;
    let (_, ann) = register(&app, "ann").await;
    let (_, bob) = register(&app, "bob").await;
    let (_, carol) = register(&app, "carol").await;
    let browser = Browser::new();
    let subscribe = |token: String, endpoint: String, keys: Value| {
        let app = &app;
        async move {
            app.post(
                "/api/push/subscriptions",
                Some(&token),
                json!({"endpoint": endpoint, "keys": keys}),
            )
            .await
        }
    };
    // Bad input: clear errors.
    for (endpoint, keys) in [
        ("ftp://example.com/x".to_string(), browser.keys()),
        ("not a url".to_string(), browser.keys()),
        (
            format!("{base}/push/x"),
            json!({"p256dh": "AAAA", "auth": "AAAA"}),
        ),
        (format!("{base}/push/{}", "x".repeat(2000)), browser.keys()),
    ] {
        let (status, body) = subscribe(bob.clone(), endpoint, keys).await;
        assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    }
    let (status, _) = app.post("/api/push/subscriptions", None, json!({})).await;
    assert_eq!(status, 401);

    // Carol subscribes, then is named in a private room she can't read: no push.
    let carol_endpoint = format!("{base}/push/carol");
    let (status, _) = subscribe(carol.clone(), carol_endpoint.clone(), Browser::new().keys()).await;
    assert_eq!(status, 201);
    let bob_endpoint = format!("{base}/push/bob");
    let (status, _) = subscribe(bob.clone(), bob_endpoint.clone(), browser.keys()).await;
    assert_eq!(status, 201);
    let (_, private) = app
        .post(
            "/api/rooms",
            Some(&ann),
            json!({"name": "Hidden", "kind": "private"}),
        )
        .await;
    let private_id = private["id"].as_str().unwrap();
    app.post(
        &format!("/api/rooms/{private_id}/members"),
        Some(&ann),
        json!({"username": "bob"}),
    )
    .await;
    say(&app, &ann, private_id, "h1", "@carol @bob secret").await;
    let pushed = next_push(&mut pushes).await;
    assert_eq!(pushed.path, "/push/bob", "only the reader is pushed");
    let payload: Value = serde_json::from_slice(&browser.decrypt(&pushed.body)).unwrap();
    assert_eq!(payload["body"], "@carol @bob secret");
    // Had carol been pushed, her push (same notice, same task) would be here by now or next;
    // a second mention of bob alone shows the queue holds nothing of hers in between.
    say(&app, &ann, private_id, "h2", "@bob again").await;
    let pushed = next_push(&mut pushes).await;
    assert_eq!(pushed.path, "/push/bob");

    // Unsubscribing: 204, idempotent; no more pushes to it.
    let (status, _) = delete_with(
        &app,
        "/api/push/subscriptions",
        &bob,
        json!({"endpoint": bob_endpoint}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = delete_with(
        &app,
        "/api/push/subscriptions",
        &bob,
        json!({"endpoint": bob_endpoint}),
    )
    .await;
    assert_eq!(status, 204);
    let count = "SELECT COUNT(*) FROM push_subscriptions WHERE endpoint = $1";
    assert_eq!(app.store_count(count, &[&bob_endpoint]).await, 0);
    assert_eq!(app.store_count(count, &[&carol_endpoint]).await, 1);
}

/// Without PALAVER_PUSH_ALLOW_INSECURE, only https endpoints on public hosts are taken.
async fn insecure_endpoints_are_refused_by_default(store: StoreKind) {
    let app = crate::helpers::spawn_on(store).await;
    let (_, bob) = register(&app, "bob").await;
    let keys = Browser::new().keys();
    for endpoint in [
        "http://push.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://localhost/x",
    ] {
        let (status, body) = app
            .post(
                "/api/push/subscriptions",
                Some(&bob),
                json!({"endpoint": endpoint, "keys": keys}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_request"),
            "{endpoint}: {body}"
        );
    }
    let (status, body) = app
        .post(
            "/api/push/subscriptions",
            Some(&bob),
            json!({"endpoint": "https://push.example.com/send/abc", "keys": keys}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A deleted account keeps no device of its own: its push subscriptions go in the same
/// transaction that anonymises it (they name a browser, and nothing may be pushed to it again).
async fn a_deleted_account_leaves_no_push_subscription(store: StoreKind) {
    let app = spawn_push(store).await;
    let (bob, token) = register(&app, "bob").await;
    let (_, ann) = register(&app, "ann").await;
    let browser = Browser::new();
    for (who, endpoint) in [
        (&token, "https://push.example.com/send/bob"),
        (&ann, "https://push.example.com/send/ann"),
    ] {
        let (status, body) = app
            .post(
                "/api/push/subscriptions",
                Some(who),
                json!({"endpoint": endpoint, "keys": browser.keys()}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let count = "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1";
    assert_eq!(app.store_count(count, &[&bob.id]).await, 1);
    let (status, body) = delete_with(
        &app,
        "/api/me",
        &token,
        json!({"password": "correct horse battery staple"}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        app.store_count(count, &[&bob.id]).await,
        0,
        "bob's device is forgotten"
    );
    assert_eq!(
        app.store_count("SELECT COUNT(*) FROM push_subscriptions", &[])
            .await,
        1,
        "ann's stays"
    );
}

crate::both_stores!(
    a_deleted_account_leaves_no_push_subscription,
    a_mention_is_pushed_encrypted_and_signed,
    subscriptions_are_checked_and_only_readers_are_pushed,
    insecure_endpoints_are_refused_by_default,
);
