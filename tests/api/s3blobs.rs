//! The S3 blob store itself (`store::s3blobs`), against a real S3-compatible server (`s3s-fs`):
//! multipart uploads over several parts and ranges across them, content addressing, the bound of
//! `read_all`, removal, a crash mid-upload (no visible object, no half object; the sweep aborts
//! the multipart upload and removes its record), and clear errors for a bad URL or a server that
//! is not there. Both locks: a node mutex (SQLite) and the PostgreSQL advisory lock.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use palaver::store::blobs::{BlobStore, BlobWriter};
use palaver::store::files::FileStore;
use palaver::store::s3blobs::{BlobLock, S3Blobs, S3Settings, PART};
use sha2::{Digest, Sha256};

use crate::s3server::S3Server;

/// Bytes that differ from part to part (so a part out of order would show).
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn collect(blobs: &S3Blobs, sha: &str, start: u64, end: u64) -> Vec<u8> {
    let stream = blobs.read(sha, start, end).await.expect("the read begins");
    let pieces: Vec<bytes::Bytes> = stream.try_collect().await.expect("the read ends");
    pieces.concat()
}

/// Writes `bytes` in uneven pieces (as an HTTP body arrives).
async fn write_all(writer: &mut dyn BlobWriter, bytes: &[u8]) {
    for piece in bytes.chunks(64 * 1024 + 17) {
        writer.write(piece).await.expect("a piece is written");
    }
}

/// A store for the checks of `remove_unreferenced`: SQLite in a temp dir (no file rows).
async fn sqlite_files() -> (tempfile::TempDir, Arc<palaver::store::sqlite::SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = palaver::store::sqlite::SqliteStore::open_in(dir.path())
        .await
        .expect("the store opens");
    (dir, Arc::new(store))
}

async fn round_trip(s3: &S3Server, blobs: &S3Blobs, files: &dyn FileStore) {
    // Two whole parts and a tail: a multipart upload of three parts.
    let bytes = pattern(2 * PART + 12_345, 1);
    let sha = sha_hex(&bytes);
    let mut writer = blobs.create().await.unwrap();
    write_all(&mut *writer, &bytes).await;
    // While it is being written, nothing is at the blob's key.
    assert!(!blobs.exists(&sha).await.unwrap());
    let staged = writer.finish().await.unwrap();
    assert_eq!(
        (staged.sha256.as_str(), staged.size),
        (sha.as_str(), bytes.len() as u64)
    );
    assert!(
        !blobs.exists(&sha).await.unwrap(),
        "staged is not yet in place"
    );
    assert_eq!(
        s3.temporaries(),
        1,
        "the staged object, and no multipart upload left"
    );
    blobs.promote(&staged).await.unwrap();
    assert_eq!(s3.temporaries(), 0, "promoting removes the temporary");
    assert!(s3.has_object(&format!("{}/{sha}", &sha[..2])));
    assert!(blobs.exists(&sha).await.unwrap());
    assert_eq!(blobs.size(&sha).await.unwrap(), bytes.len() as u64);

    // The whole, and ranges within a part and across the parts' borders.
    let len = bytes.len() as u64;
    assert_eq!(collect(blobs, &sha, 0, len).await, bytes);
    let border = PART as u64;
    for (start, end) in [
        (0, 1),
        (10, 20_000),
        (border - 5, border + 5),
        (border - 1, 2 * border + 1),
        (len - 1, len),
        (7, 7),
    ] {
        assert_eq!(
            collect(blobs, &sha, start, end).await,
            bytes[start as usize..end as usize],
            "{start}..{end}"
        );
    }

    // read_all: bounded.
    assert_eq!(blobs.read_all(&sha, len).await.unwrap(), bytes);
    let refused = blobs.read_all(&sha, len - 1).await.unwrap_err();
    assert_eq!(refused.code(), "file_too_large");

    // The same bytes again: promoted onto what is there, the temporary goes.
    let mut again = blobs.create().await.unwrap();
    write_all(&mut *again, &bytes).await;
    let again = again.finish().await.unwrap();
    blobs.promote(&again).await.unwrap();
    assert_eq!(s3.temporaries(), 0);
    assert_eq!(collect(blobs, &sha, 0, len).await, bytes);

    // A small upload (one PUT) and an empty one.
    for small in [b"hello, bucket".to_vec(), Vec::new()] {
        let mut writer = blobs.create().await.unwrap();
        writer.write(&small).await.unwrap();
        let staged = writer.finish().await.unwrap();
        blobs.promote(&staged).await.unwrap();
        assert_eq!(blobs.read_all(&staged.sha256, 100).await.unwrap(), small);
        assert_eq!(
            blobs.size(&staged.sha256).await.unwrap(),
            small.len() as u64
        );
    }

    // Removal: nothing refers to it, so it goes (from the server too), and again is no error.
    assert!(blobs.remove_unreferenced(&sha, files).await.unwrap());
    assert!(!blobs.exists(&sha).await.unwrap());
    assert!(!s3.has_object(&format!("{}/{sha}", &sha[..2])));
    assert!(blobs.remove_unreferenced(&sha, files).await.unwrap());

    // An aborted upload (refused halfway) leaves nothing, multipart or not.
    for len in [1000, PART + 1] {
        let mut writer = blobs.create().await.unwrap();
        write_all(&mut *writer, &pattern(len, 3)).await;
        writer.abort().await;
        assert_eq!(s3.temporaries(), 0, "{len} bytes aborted");
    }
    // A discarded staged upload too.
    let mut writer = blobs.create().await.unwrap();
    writer.write(b"discard me").await.unwrap();
    let staged = writer.finish().await.unwrap();
    blobs.discard(&staged).await;
    assert_eq!(s3.temporaries(), 0);

    // Names that are not SHA-256 are refused, never made into keys.
    assert!(blobs.exists("../../etc/passwd").await.is_err());
    assert!(blobs.read("tmp", 0, 1).await.is_err());
}

#[tokio::test]
async fn a_multipart_round_trip_with_the_node_lock() {
    let s3 = S3Server::start();
    let blobs = S3Blobs::connect(&s3.settings(), BlobLock::Node(Default::default()))
        .await
        .expect("the bucket is reached");
    let (_dir, files) = sqlite_files().await;
    round_trip(&s3, &blobs, files.as_ref()).await;
}

#[tokio::test]
async fn a_multipart_round_trip_with_the_postgres_lock() {
    let s3 = S3Server::start();
    let db = crate::pgdb::TestDatabase::create().await;
    let store = palaver::store::postgres::PostgresStore::open(&db.url, 4)
        .await
        .expect("the store opens");
    let blobs = S3Blobs::connect(&s3.settings(), BlobLock::Postgres(store.pool()))
        .await
        .expect("the bucket is reached");
    round_trip(&s3, &blobs, &store).await;
    store.close().await;
}

/// A crash mid-upload (the writer never finishes nor aborts: the process died): no object
/// appears at any blob key, and the sweep aborts the multipart upload and removes its record
/// once it is old enough; a staged upload never promoted is swept too.
#[tokio::test]
async fn a_crash_mid_upload_leaves_nothing_visible_and_the_sweep_clears_it() {
    let s3 = S3Server::start();
    let blobs = S3Blobs::connect(&s3.settings(), BlobLock::Node(Default::default()))
        .await
        .unwrap();
    let bytes = pattern(PART + PART / 2, 7);
    let mut writer = blobs.create().await.unwrap();
    write_all(&mut *writer, &bytes).await;
    // The process dies here.
    std::mem::forget(writer);
    assert_eq!(s3.unfinished_multipart_uploads(), 1, "one part was sent");
    assert!(!blobs.exists(&sha_hex(&bytes)).await.unwrap());
    let keys = blobs.temporaries().await.unwrap();
    assert_eq!(keys.len(), 1, "only the record is listed: {keys:?}");
    assert!(keys[0].ends_with(".multipart"), "{keys:?}");

    // Another finished but never promoted (a crash between the two).
    let mut writer = blobs.create().await.unwrap();
    writer.write(b"staged, then the crash").await.unwrap();
    let staged = writer.finish().await.unwrap();
    assert!(!blobs.exists(&staged.sha256).await.unwrap());

    // Young temporaries are uploads in flight: kept.
    assert_eq!(
        blobs
            .sweep_temporaries(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(s3.unfinished_multipart_uploads(), 1);
    // Old enough (here: any age): gone, the multipart upload aborted on the server.
    assert_eq!(blobs.sweep_temporaries(Duration::ZERO).await.unwrap(), 2);
    assert_eq!(s3.unfinished_multipart_uploads(), 0);
    assert_eq!(s3.temporaries(), 0);
    assert!(blobs.temporaries().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_url_or_an_absent_server_is_a_clear_error_at_startup() {
    let s3 = S3Server::start();
    for url in ["http://bucket/x", "s3://", "s3:///prefix"] {
        let settings = S3Settings {
            url: url.into(),
            ..s3.settings()
        };
        let err = S3Blobs::connect(&settings, BlobLock::Node(Default::default()))
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("PALAVER_FILES_URL"),
            "{url}: {err}"
        );
    }
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let settings = S3Settings {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..s3.settings()
    };
    let err = S3Blobs::connect(&settings, BlobLock::Node(Default::default()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("reaching the bucket"), "{err}");
    // Wrong credentials.
    let settings = S3Settings {
        secret_access_key: Some("not-the-secret".into()),
        ..s3.settings()
    };
    let err = S3Blobs::connect(&settings, BlobLock::Node(Default::default()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("reaching the bucket"), "{err}");
}
