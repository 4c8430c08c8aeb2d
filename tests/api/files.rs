//! Files (issue #12): upload (streamed, size limit, quota, types sniffed from the bytes), attach
//! to messages (REST and socket; a retry attaches nothing twice), fetch (only the uploader and
//! people who may read a room where the file is attached; Range, ETag), image thumbnails and
//! decompression bombs, and freeing blobs nothing refers to. Every test runs on SQLite with the
//! disk blob store, on PostgreSQL with the database blob store, and on each store with an
//! S3-compatible bucket (a real `s3s-fs` server started for the test).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::helpers::{spawn_files_on, Blobs, StoreKind, TestApp, WAIT};
use crate::private_rooms::private_room;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// A PNG of `w`×`h` pixels, made with the image crate.
fn png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A small, valid-looking PNG whose header declares `w`×`h` pixels: a decompression bomb.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    // A little compressed data of zeros (a real bomb would be more; the header decides here).
    let zeros = [0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01];
    chunk(b"IDAT", &zeros);
    chunk(b"IEND", &[]);
    out
}

/// Uploads `bytes` as `name`: (status, body).
pub async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str("application/octet-stream")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = app
        .http
        .post(app.url("/api/files"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("the upload is sent");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn uploaded(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> Value {
    let (status, file) = upload(app, token, name, bytes).await;
    assert_eq!(status, 201, "{file}");
    file
}

/// GET of a file URL with extra headers.
async fn fetch(
    app: &TestApp,
    token: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.http.get(app.url(url)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the request is sent")
}

async fn send_with(
    app: &TestApp,
    token: &str,
    room: &str,
    client_id: &str,
    body: &str,
    files: &[&Value],
) -> (u16, Value) {
    let ids: Vec<&str> = files.iter().map(|f| f["id"].as_str().unwrap()).collect();
    app.post(
        &format!("/api/rooms/{room}/messages"),
        Some(token),
        json!({"client_id": client_id, "body": body, "attachments": ids}),
    )
    .await
}

/// Waits (bounded) until `check` holds: for what the server finishes after answering.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where a test's server keeps its rows and its files.
#[derive(Debug, Clone, Copy)]
pub struct On {
    store: StoreKind,
    blobs: Blobs,
}

async fn spawn(on: On) -> TestApp {
    spawn_files_on(on.store, on.blobs, |_| {}).await
}

async fn spawn_with(on: On, tweak: impl FnOnce(&mut palaver::config::Config)) -> TestApp {
    spawn_files_on(on.store, on.blobs, tweak).await
}

/// The temporaries of uploads in flight: files under `files/tmp` (disk), `tmp-` chunks, or the
/// bucket's `tmp/` objects and unfinished multipart uploads.
async fn temporaries(app: &TestApp, on: On) -> i64 {
    if let Some(s3) = &app.s3 {
        return s3.temporaries() as i64;
    }
    match on.store {
        StoreKind::Sqlite => std::fs::read_dir(app.data_dir.join("files/tmp"))
            .map(|dir| dir.count() as i64)
            .unwrap_or(0),
        StoreKind::Postgres => {
            app.store_count(
                "SELECT COUNT(*) FROM blob_chunks WHERE blob_key LIKE 'tmp-%'",
                &[],
            )
            .await
        }
    }
}

fn etag_sha(response: &reqwest::Response) -> String {
    response.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

async fn a_member_fetches_an_attached_image_and_a_stranger_gets_404(on: On) {
    let app = spawn(on).await;
    let (_alice, alice) = app.guest("alice").await;
    let (_bob, bob) = app.guest("bob").await;
    let (_carol, carol) = app.guest("carol").await;
    let room = private_room(&app, &alice, "Photos").await;
    let room_id = room["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/rooms/{room_id}/members"),
            Some(&alice),
            json!({"username": "bob"}),
        )
        .await;
    assert!(status == 200 || status == 201, "bob is added");

    let bytes = png(640, 480);
    let file = uploaded(&app, &alice, "../holiday.png", bytes.clone()).await;
    assert_eq!(file["name"], "holiday.png", "the path is dropped: {file}");
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], bytes.len() as u64);
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(640), Some(480))
    );
    let url = file["url"].as_str().unwrap().to_string();
    let thumb = file["thumbnail_url"].as_str().unwrap().to_string();

    // Not attached yet: only the uploader may fetch it.
    assert_eq!(fetch(&app, &alice, &url, &[]).await.status(), 200);
    let early = fetch(&app, &bob, &url, &[]).await;
    assert_eq!(early.status(), 404);
    assert_eq!(code(&early.json().await.unwrap()), "file_not_found");

    let (status, message) = send_with(&app, &alice, room_id, "m1", "", &[&file]).await;
    assert_eq!(status, 201, "a caption is optional: {message}");
    assert_eq!(message["attachments"][0]["id"], file["id"]);
    assert_eq!(message["attachments"][0]["width"], 640);

    let got = fetch(&app, &bob, &url, &[]).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert!(got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline"));
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    let cache = got.headers()["cache-control"].to_str().unwrap().to_string();
    assert!(
        cache.contains("private") && cache.contains("immutable"),
        "{cache}"
    );
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes, "bytes equal");

    let small = fetch(&app, &bob, &thumb, &[]).await;
    assert_eq!(small.status(), 200);
    let small = small.bytes().await.unwrap();
    let decoded = image::load_from_memory(&small).unwrap();
    assert!(decoded.width() <= 320 && decoded.height() <= 320);
    assert_eq!(decoded.width(), 320, "the long side is 320");

    // The history carries the attachment.
    let history = app.history(&bob, room_id).await;
    assert_eq!(
        history.last().unwrap().attachments[0].id,
        file["id"].as_str().unwrap()
    );

    // A stranger: 404 for the file and its thumbnail, as for a file that doesn't exist.
    for path in [&url, &thumb, &"/api/files/nonexistent".to_string()] {
        let response = fetch(&app, &carol, path, &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(code(&response.json().await.unwrap()), "file_not_found");
    }
    // Without a session: 401.
    let anonymous = app.http.get(app.url(&url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn the_socket_send_attaches_and_a_retry_attaches_nothing_twice(on: On) {
    let app = spawn(on).await;
    let (_alice, alice) = app.guest("alice").await;
    let (_bob, bob) = app.guest("bob").await;
    let room = app.create_room(&alice, "Files").await;
    let file = uploaded(&app, &alice, "notes.txt", b"some notes\n".to_vec()).await;
    assert_eq!(file["content_type"], "text/plain; charset=utf-8");
    assert!(file["width"].is_null() && file["thumbnail_url"].is_null());

    let mut ws = app.ws(&alice).await;
    ws.subscribe(&room.id, None).await;
    let frame = json!({"type": "send", "room_id": room.id, "client_id": "s1", "body": "see",
        "attachments": [file["id"]], "ref": 1});
    ws.send(frame.clone()).await;
    let created = ws.expect_event("message.created").await;
    assert_eq!(created["message"]["attachments"][0]["id"], file["id"]);
    let ack = ws.expect("ack").await;
    assert_eq!(ack["message"]["attachments"][0]["id"], file["id"], "{ack}");

    // The same send again (same client_id): the original, attached once.
    ws.send(frame).await;
    let again = ws.expect("ack").await;
    assert_eq!(again["message"]["id"], created["message"]["id"]);
    let (status, retried) = send_with(&app, &alice, &room.id, "s1", "see", &[&file]).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["attachments"].as_array().unwrap().len(), 1);
    let history = app.history(&alice, &room.id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        app.store_count(
            "SELECT COUNT(*) FROM files WHERE message_id IS NOT NULL",
            &[]
        )
        .await,
        1
    );

    // Another message may not take the file that is attached already.
    let (status, body) = send_with(&app, &alice, &room.id, "s2", "again", &[&file]).await;
    assert_eq!((status, code(&body)), (400, "invalid_attachments"));
    // Nor may anyone attach someone else's upload, or one that doesn't exist.
    let alices = uploaded(&app, &alice, "a.txt", b"alice's".to_vec()).await;
    let (status, body) = send_with(&app, &bob, &room.id, "b1", "mine?", &[&alices]).await;
    assert_eq!((status, code(&body)), (404, "file_not_found"));
    let ghost = json!({"id": "0000"});
    let (status, body) = send_with(&app, &alice, &room.id, "s3", "x", &[&ghost]).await;
    assert_eq!((status, code(&body)), (404, "file_not_found"));
    // The same file twice in one message, or more than 10 files.
    let (status, body) = send_with(&app, &alice, &room.id, "s4", "x", &[&alices, &alices]).await;
    assert_eq!((status, code(&body)), (400, "invalid_attachments"));
    let many: Vec<&Value> = std::iter::repeat_n(&alices, 11).collect();
    let (status, body) = send_with(&app, &alice, &room.id, "s5", "x", &many).await;
    assert_eq!((status, code(&body)), (400, "invalid_attachments"));
    // No files and no body: still body_empty.
    let (status, body) = send_with(&app, &alice, &room.id, "s6", " ", &[]).await;
    assert_eq!((status, code(&body)), (400, "body_empty"));
    // A stranger's socket send with files to a private room: room_not_found.
    let secret = private_room(&app, &alice, "Secret").await;
    let mut bob_ws = app.ws(&bob).await;
    let bobs = uploaded(&app, &bob, "b.txt", b"bob's".to_vec()).await;
    bob_ws
        .send(
            json!({"type": "send", "room_id": secret["id"], "client_id": "x1", "body": "",
            "attachments": [bobs["id"]], "ref": 2}),
        )
        .await;
    let refused = bob_ws.expect("error").await;
    assert_eq!(refused["code"], "room_not_found");
}

async fn ranges_and_etags(on: On) {
    let app = spawn(on).await;
    let (_alice, alice) = app.guest("alice").await;
    // Over one chunk of the database store, so a range crosses chunks.
    let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let file = uploaded(&app, &alice, "data.bin", bytes.clone()).await;
    assert_eq!(file["content_type"], "application/octet-stream");
    let url = file["url"].as_str().unwrap();

    let whole = fetch(&app, &alice, url, &[]).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert!(whole.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let etag = whole.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(whole.bytes().await.unwrap().to_vec(), bytes);

    let part = fetch(&app, &alice, url, &[("range", "bytes=262000-262299")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        "bytes 262000-262299/600000"
    );
    assert_eq!(part.bytes().await.unwrap().to_vec(), bytes[262000..262300]);
    let tail = fetch(&app, &alice, url, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().to_vec(), bytes[599_990..]);
    let open = fetch(&app, &alice, url, &[("range", "bytes=599999-")]).await;
    assert_eq!(open.bytes().await.unwrap().to_vec(), bytes[599_999..]);

    let bad = fetch(&app, &alice, url, &[("range", "bytes=600000-")]).await;
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], "bytes */600000");
    assert_eq!(code(&bad.json().await.unwrap()), "range_not_satisfiable");

    let cached = fetch(&app, &alice, url, &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status(), 304);
    assert!(cached.bytes().await.unwrap().is_empty());
    let stale = fetch(&app, &alice, url, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(stale.status(), 200);

    // HTML is never served as HTML, nor inline.
    let html = uploaded(
        &app,
        &alice,
        "page.html",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await;
    let got = fetch(&app, &alice, html["url"].as_str().unwrap(), &[]).await;
    assert!(!got.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("html"));
    assert!(got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
}

async fn limits_quota_and_types(on: On) {
    let app = spawn_with(on, |config| {
        config.max_upload_bytes = 100_000;
        config.upload_quota_bytes = 150_000;
    })
    .await;
    let (_alice, alice) = app.guest("alice").await;
    let (status, body) = upload(&app, &alice, "big.bin", vec![7u8; 100_001]).await;
    assert_eq!((status, code(&body)), (413, "file_too_large"));
    assert_eq!(app.store_count("SELECT COUNT(*) FROM files", &[]).await, 0);

    uploaded(&app, &alice, "first.bin", vec![1u8; 100_000]).await;
    let (status, body) = upload(&app, &alice, "second.bin", vec![2u8; 60_000]).await;
    assert_eq!((status, code(&body)), (413, "quota_exceeded"));
    uploaded(&app, &alice, "third.bin", vec![3u8; 50_000]).await;
    let (status, body) = upload(&app, &alice, "fourth.bin", vec![4u8; 1]).await;
    assert_eq!((status, code(&body)), (413, "quota_exceeded"));
    eventually("no temporaries are left", || async {
        temporaries(&app, on).await == 0
    })
    .await;

    // An executable, whatever it is called or claims to be.
    let (_bob, bob) = app.guest("bob").await;
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.extend(vec![0u8; 200]);
    let (status, body) = upload(&app, &bob, "cat.jpg", elf).await;
    assert_eq!((status, code(&body)), (415, "file_type_not_allowed"));
    let (status, body) = upload(&app, &bob, "run.txt", b"#!/bin/sh\nrm -rf /\n".to_vec()).await;
    assert_eq!((status, code(&body)), (415, "file_type_not_allowed"));

    // A declared length far over the limit is refused before it is read.
    let declared = app
        .http
        .post(app.url("/api/files"))
        .bearer_auth(&bob)
        .header("content-type", "multipart/form-data; boundary=x")
        .header("content-length", "100000000")
        .body(vec![0u8; 10])
        .send()
        .await;
    if let Ok(response) = declared {
        assert_eq!(response.status(), 413);
        assert_eq!(code(&response.json().await.unwrap()), "file_too_large");
    }

    // Not multipart, or no `file` part.
    let (status, body) = app.post("/api/files", Some(&bob), json!({})).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
}

async fn only_allowed_types_when_the_setting_narrows_them(on: On) {
    let app = spawn_with(on, |config| {
        config.upload_types = vec!["image/*".into(), "application/pdf".into()];
    })
    .await;
    let (_alice, alice) = app.guest("alice").await;
    let (status, body) = upload(&app, &alice, "a.txt", b"plain text".to_vec()).await;
    assert_eq!((status, code(&body)), (415, "file_type_not_allowed"));
    uploaded(&app, &alice, "a.png", png(4, 4)).await;
    uploaded(&app, &alice, "a.pdf", b"%PDF-1.4\n%....\n".to_vec()).await;
}

async fn a_decompression_bomb_is_refused_with_memory_bounded(on: On) {
    let app = spawn(on).await;
    let (_alice, alice) = app.guest("alice").await;
    let before = rss_bytes();
    let bomb = png_declaring(100_000, 100_000);
    let (status, body) = upload(&app, &alice, "bomb.png", bomb).await;
    assert_eq!((status, code(&body)), (413, "file_too_large"), "{body}");
    let grew = rss_bytes().saturating_sub(before);
    // Decoding it would take 40 GB; refusing it takes nothing like that.
    assert!(grew < 200 * 1024 * 1024, "the server grew by {grew} bytes");
    // Just over the side limit, too.
    let (status, _) = upload(&app, &alice, "tall.png", png_declaring(10, 12_001)).await;
    assert_eq!(status, 413);
    assert_eq!(app.store_count("SELECT COUNT(*) FROM files", &[]).await, 0);
    eventually("no temporaries are left", || async {
        temporaries(&app, on).await == 0
    })
    .await;
    // A damaged image is kept as a file, without size or thumbnail.
    let mut damaged = png(8, 8);
    damaged.truncate(40);
    let file = uploaded(&app, &alice, "damaged.png", damaged).await;
    assert!(
        file["width"].is_null() && file["thumbnail_url"].is_null(),
        "{file}"
    );
}

/// This process's resident memory (the server runs in it).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn deleting_frees_blobs_nothing_else_refers_to(on: On) {
    let app = spawn(on).await;
    let (_alice, alice) = app.guest("alice").await;
    let room = app.create_room(&alice, "Freed").await;
    let bytes = png(50, 40);
    let one = uploaded(&app, &alice, "one.png", bytes.clone()).await;
    let two = uploaded(&app, &alice, "two.png", bytes.clone()).await;
    let got = fetch(&app, &alice, one["url"].as_str().unwrap(), &[]).await;
    let sha = etag_sha(&got);
    let thumb = fetch(&app, &alice, one["thumbnail_url"].as_str().unwrap(), &[]).await;
    let thumb_sha = etag_sha(&thumb);
    let chat = app.state.chat.clone();
    assert!(chat.blob_exists(&sha).await.unwrap());
    // In a bucket: the objects are on its server (checked on the server's disk).
    let on_server = |sha: &str| {
        app.s3
            .as_ref()
            .map(|s3| s3.has_object(&format!("{}/{sha}", &sha[..2])))
    };
    if app.s3.is_some() {
        assert_eq!(on_server(&sha), Some(true));
        assert_eq!(on_server(&thumb_sha), Some(true));
    }

    let (_, first) = send_with(&app, &alice, &room.id, "c1", "one", &[&one]).await;
    let (_, second) = send_with(&app, &alice, &room.id, "c2", "two", &[&two]).await;
    let first_id = first["id"].as_str().unwrap();
    let (status, _) = app
        .delete(
            &format!("/api/rooms/{}/messages/{first_id}", room.id),
            Some(&alice),
        )
        .await;
    assert_eq!(status, 204);
    // The same bytes are still another file's: kept.
    assert!(chat.blob_exists(&sha).await.unwrap());
    assert_eq!(
        fetch(&app, &alice, one["url"].as_str().unwrap(), &[])
            .await
            .status(),
        404
    );
    let still = fetch(&app, &alice, two["url"].as_str().unwrap(), &[]).await;
    assert_eq!(still.bytes().await.unwrap().to_vec(), bytes);
    // The deleted message's event no longer names the file.
    let events = app.events(&alice, &room.id, 0).await;
    let created = serde_json::to_value(&events).unwrap();
    assert!(!created.to_string().contains(one["id"].as_str().unwrap()));

    // Clearing the room deletes the last file that had them: the blobs go.
    let (status, _) = app
        .post(
            &format!("/api/rooms/{}/clear", room.id),
            Some(&alice),
            json!({}),
        )
        .await;
    assert_eq!(status, 204, "{second}");
    assert!(!chat.blob_exists(&sha).await.unwrap());
    assert!(!chat.blob_exists(&thumb_sha).await.unwrap());
    if app.s3.is_some() {
        assert_eq!(
            on_server(&sha),
            Some(false),
            "the object is gone from the server"
        );
        assert_eq!(on_server(&thumb_sha), Some(false));
    }
    assert_eq!(app.store_count("SELECT COUNT(*) FROM files", &[]).await, 0);
    assert_eq!(
        app.store_count("SELECT COUNT(*) FROM blob_trash", &[])
            .await,
        0
    );

    // Deleting a room frees its files too.
    let other = app.create_room(&alice, "Gone").await;
    let three = uploaded(&app, &alice, "three.bin", vec![9u8; 1000]).await;
    let sha3 = etag_sha(&fetch(&app, &alice, three["url"].as_str().unwrap(), &[]).await);
    send_with(&app, &alice, &other.id, "c3", "", &[&three]).await;
    let (status, _) = app
        .delete(&format!("/api/rooms/{}", other.id), Some(&alice))
        .await;
    assert_eq!(status, 204);
    assert!(!chat.blob_exists(&sha3).await.unwrap());

    // The sweep deletes uploads never attached once they are old enough (here: all of them).
    let four = uploaded(&app, &alice, "four.bin", vec![4u8; 1000]).await;
    let sha4 = etag_sha(&fetch(&app, &alice, four["url"].as_str().unwrap(), &[]).await);
    app.store_execute(
        "UPDATE files SET created_at = '2000-01-01T00:00:00.000Z' WHERE id = $1",
        &[four["id"].as_str().unwrap()],
    )
    .await;
    chat.sweep().await.unwrap();
    assert!(!chat.blob_exists(&sha4).await.unwrap());
    assert_eq!(
        fetch(&app, &alice, four["url"].as_str().unwrap(), &[])
            .await
            .status(),
        404
    );
}

async fn an_upload_cut_off_halfway_leaves_nothing(on: On) {
    let app = spawn(on).await;
    let (_alice, alice) = app.guest("alice").await;
    let boundary = "cutoffboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    // Over one part of the S3 store (5 MiB) arrives, so a multipart upload is begun there.
    let total = head.len() + 12_000_000 + boundary.len() + 8;
    let request = format!(
        "POST /api/files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {alice}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {total}\r\n\r\n",
        app.addr
    );
    let mut stream = tokio::net::TcpStream::connect(&app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // Half the file: the server has begun storing it.
    stream.write_all(&vec![5u8; 6_000_000]).await.unwrap();
    stream.flush().await.unwrap();
    eventually("the upload has begun", || async {
        temporaries(&app, on).await > 0
    })
    .await;
    drop(stream);
    eventually("the half upload is removed", || async {
        temporaries(&app, on).await == 0
    })
    .await;
    assert_eq!(app.store_count("SELECT COUNT(*) FROM files", &[]).await, 0);
    // The user's quota counts nothing of it.
    let file = uploaded(&app, &alice, "whole.bin", vec![6u8; 10]).await;
    assert_eq!(file["size"], 10);
}

/// Runs each test on both stores, each with its own blob store and with an S3 bucket.
macro_rules! every_backend {
    ($($name:ident),* $(,)?) => {
        every_backend!(@mod sqlite, Sqlite, Native; $($name),*);
        every_backend!(@mod postgres, Postgres, Native; $($name),*);
        every_backend!(@mod sqlite_s3, Sqlite, S3; $($name),*);
        every_backend!(@mod postgres_s3, Postgres, S3; $($name),*);
    };
    (@mod $module:ident, $store:ident, $blobs:ident; $($name:ident),*) => {
        mod $module {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::On {
                    store: crate::helpers::StoreKind::$store,
                    blobs: crate::helpers::Blobs::$blobs,
                })
                .await
            })*
        }
    };
}

every_backend!(
    a_member_fetches_an_attached_image_and_a_stranger_gets_404,
    the_socket_send_attaches_and_a_retry_attaches_nothing_twice,
    ranges_and_etags,
    limits_quota_and_types,
    only_allowed_types_when_the_setting_narrows_them,
    a_decompression_bomb_is_refused_with_memory_bounded,
    deleting_frees_blobs_nothing_else_refers_to,
    an_upload_cut_off_halfway_leaves_nothing,
);

/// `palaver copy-to-postgres` carries the files of a single node (#12): the blobs on disk go into
/// PostgreSQL's chunked blob store, and the copy serves the same bytes, thumbnails and metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_postgres_carries_files_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let mut single = crate::helpers::spawn_with(move |c| c.data_dir = data_dir).await;
    let (_ann, ann) = single.guest("ann").await;
    let room = single.create_room(&ann, "Files").await.id;
    // Larger than one 256 KiB chunk, of bytes no sniffer calls an image or a program.
    let big: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let picture = png(64, 48);
    let plain = uploaded(&single, &ann, "data.bin", big.clone()).await;
    let image = uploaded(&single, &ann, "dot.png", picture.clone()).await;
    let (status, sent) = send_with(&single, &ann, &room, "f1", "both", &[&plain, &image]).await;
    assert_eq!(status, 201, "{sent}");
    let thumb_before = fetch(&single, &ann, image["thumbnail_url"].as_str().unwrap(), &[])
        .await
        .bytes()
        .await
        .unwrap();
    single.stop().await;

    let target = crate::pgdb::TestDatabase::create().await;
    let out = crate::copy_to_postgres::copy(dir.path(), &target.url).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let url = target.url.clone();
    let copy = crate::helpers::spawn_with(move |c| c.database_url = Some(url)).await;
    // ann's guest session was copied with everything else.
    let (status, page) = copy
        .get(&format!("/api/rooms/{room}/messages"), Some(&ann))
        .await;
    assert_eq!(status, 200, "{page}");
    let message = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["client_id"] == "f1")
        .expect("the message is there")
        .clone();
    assert_eq!(message["attachments"], sent["attachments"]);
    let got = fetch(&copy, &ann, plain["url"].as_str().unwrap(), &[]).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), big);
    let got = fetch(&copy, &ann, image["url"].as_str().unwrap(), &[]).await;
    assert_eq!(got.bytes().await.unwrap().to_vec(), picture);
    let thumb = fetch(&copy, &ann, image["thumbnail_url"].as_str().unwrap(), &[]).await;
    assert_eq!(thumb.bytes().await.unwrap(), thumb_before);
}
