//! The people store on both backends: session use noted at most once a minute, guests retired
//! only once released and without a live session, the first registered account.

use std::sync::Arc;

use palaver::store::people::Ending;
use palaver::store::postgres::PostgresStore;
use palaver::store::sqlite::SqliteStore;
use palaver::store::Store;

const FAR_FUTURE: &str = "2999-01-01T00:00:00.000Z";
const FAR_PAST: &str = "2000-01-01T00:00:00.000Z";

async fn last_seen(store: &dyn Store, hash: &str) -> Option<String> {
    store.session(hash).await.unwrap().unwrap().last_seen_at
}

async fn session_use_is_noted_at_most_once_a_minute(store: Arc<dyn Store>) {
    let user = store.create_user("walker", None, true).await.unwrap();
    store
        .create_session_until("h1", &user.id, FAR_FUTURE)
        .await
        .unwrap();
    let record = store.session("h1").await.unwrap().unwrap();
    assert_eq!(record.last_seen_at, None);
    assert_eq!(record.id.len(), 32, "a public id of its own");
    let t1 = "2030-01-01T00:00:00.000Z";
    store
        .touch_session("h1", t1, "2029-12-31T23:59:00.000Z")
        .await
        .unwrap();
    assert_eq!(last_seen(&*store, "h1").await.as_deref(), Some(t1));
    // Ten seconds later: noted within the last minute, nothing is written.
    store
        .touch_session("h1", "2030-01-01T00:00:10.000Z", "2029-12-31T23:59:10.000Z")
        .await
        .unwrap();
    assert_eq!(last_seen(&*store, "h1").await.as_deref(), Some(t1));
    let t3 = "2030-01-01T00:01:01.000Z";
    store
        .touch_session("h1", t3, "2030-01-01T00:00:01.000Z")
        .await
        .unwrap();
    assert_eq!(last_seen(&*store, "h1").await.as_deref(), Some(t3));
}

async fn a_guest_is_retired_only_once_released_and_without_sessions(store: Arc<dyn Store>) {
    let guest = store.create_user("fleeting", None, true).await.unwrap();
    let member = store
        .create_user("settled", Some("hash"), false)
        .await
        .unwrap();
    store
        .create_session_until("g1", &guest.id, FAR_FUTURE)
        .await
        .unwrap();
    let (room, _) = store.create_room("Lobby", "", &member).await.unwrap();
    store.join_room(&room.id, &guest).await.unwrap().unwrap();
    let room_seq = store.get_room(&room.id).await.unwrap().last_seq;
    let late = Ending::GuestExpired {
        cutoff: FAR_FUTURE.to_string(),
    };
    // A live session: not released, not retired.
    assert_eq!(store.release_idle_guests(Some(&guest.id)).await.unwrap(), 0);
    assert!(store.end_account(&guest.id, &late).await.unwrap().is_none());

    store.delete_session("g1").await.unwrap();
    assert_eq!(
        store.release_idle_guests(None).await.unwrap(),
        1,
        "only the guest"
    );
    assert_eq!(store.release_idle_guests(None).await.unwrap(), 0, "once");
    // Released after the cutoff: the grace is not over.
    let early = Ending::GuestExpired {
        cutoff: FAR_PAST.to_string(),
    };
    assert!(store
        .end_account(&guest.id, &early)
        .await
        .unwrap()
        .is_none());
    let releasable = store.releasable_guests(FAR_FUTURE, 10).await.unwrap();
    assert_eq!(releasable, std::slice::from_ref(&guest.id));
    let ended = store.end_account(&guest.id, &late).await.unwrap().unwrap();
    assert_eq!(
        (ended.user.username.as_str(), ended.revoked.len()),
        ("fleeting", 0)
    );
    // Its membership ended in the same transaction, with the room's next event.
    assert_eq!(ended.events.len(), 1);
    let event = ended.events[0].decode().unwrap();
    assert_eq!(
        (event.room_id.as_str(), event.seq),
        (room.id.as_str(), room_seq + 1)
    );
    assert!(matches!(
        event.kind,
        palaver::protocol::EventKind::MemberLeft { .. }
    ));
    assert!(store.role(&room.id, &guest.id).await.unwrap().is_none());
    assert!(
        store.end_account(&guest.id, &late).await.unwrap().is_none(),
        "once"
    );
    assert!(store.profile(&guest.id).await.unwrap().unwrap().retired);
    // The name is free; the old row stays.
    let again = store.create_user("FLEETING", None, true).await.unwrap();
    assert_ne!(again.id, guest.id);
    assert!(store
        .releasable_guests(FAR_FUTURE, 10)
        .await
        .unwrap()
        .is_empty());
    // An account is never expired as a guest.
    assert!(store
        .end_account(&member.id, &late)
        .await
        .unwrap()
        .is_none());
}

async fn the_first_registered_account_is_marked_admin(store: Arc<dyn Store>) {
    store.create_user("early", None, true).await.unwrap();
    let (first, is_first) = store.register_user("first", "hash").await.unwrap();
    assert!(is_first && first.admin);
    let (second, is_first) = store.register_user("second", "hash").await.unwrap();
    assert!(!is_first && !second.admin);
    let granted = store.set_admin("SECOND", true).await.unwrap();
    assert!(granted.admin);
    assert!(matches!(
        store.set_admin("nobody", true).await,
        Err(palaver::error::Error::UserNotFound)
    ));
}

macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn session_use_is_noted_at_most_once_a_minute() {
                let (store, _guard) = $make.await;
                super::session_use_is_noted_at_most_once_a_minute(store).await;
            }
            #[tokio::test]
            async fn a_guest_is_retired_only_once_released_and_without_sessions() {
                let (store, _guard) = $make.await;
                super::a_guest_is_retired_only_once_released_and_without_sessions(store).await;
            }
            #[tokio::test]
            async fn the_first_registered_account_is_marked_admin() {
                let (store, _guard) = $make.await;
                super::the_first_registered_account_is_marked_admin(store).await;
            }
        }
    };
}

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).await.unwrap();
    (Arc::new(store), dir)
}

async fn postgres_store() -> (Arc<dyn Store>, crate::pgdb::TestDatabase) {
    let db = crate::pgdb::TestDatabase::create().await;
    let store = PostgresStore::open(&db.url, 5).await.unwrap();
    (Arc::new(store), db)
}

suite!(sqlite, sqlite_store());
suite!(postgres, postgres_store());
