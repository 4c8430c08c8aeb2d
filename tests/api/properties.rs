//! Property tests: random sequences of operations (send, retry, edit, delete, move, clear, join,
//! leave, change the rearrange setting) by several users, through the rules (`Chat`) onto a
//! real store, checked against a model after every step.
//!
//! (Over 500 lines: the model, its operations and the property in one place.)
//!
//! What must hold, on SQLite and on PostgreSQL:
//! - each operation is allowed or refused exactly as the rules say (edit by the author only;
//!   delete by the author or the owner; moves by the rearrange setting; clear and settings by
//!   the owner), and a refused one changes nothing;
//! - each allowed operation appends exactly its events, with the next `seq`s and no gap;
//! - a retried `client_id` returns the original message and appends nothing;
//! - history is in the model's order, positions strictly increasing (a total order);
//! - replaying the room's events from seq 1 reproduces exactly the history and the members the
//!   store returns.
//!
//! Each case gets a fresh room and fresh users in one store per run. `PROPTEST_CASES` sets the
//! number of cases (default 32 on SQLite, 16 on PostgreSQL).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use palaver::bus::LocalBus;
use palaver::chat::limits::Limits;
use palaver::chat::Chat;
use palaver::error::Error;
use palaver::hub::Hub;
use palaver::metrics::Metrics;
use palaver::protocol::{EventKind, Message, Rearrange, User};
use palaver::store::postgres::PostgresStore;
use palaver::store::sqlite::SqliteStore;
use palaver::store::Store;
use palaver::Config;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

use crate::pgdb;

const USERS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Send {
        user: usize,
    },
    /// Sends one of the user's earlier client_ids again.
    Retry {
        user: usize,
        pick: usize,
    },
    Edit {
        user: usize,
        pick: usize,
    },
    Delete {
        user: usize,
        pick: usize,
    },
    /// Moves a message after another (`None`: to the top). Picks may name deleted messages.
    Move {
        user: usize,
        pick: usize,
        after: Option<usize>,
    },
    /// Moves two live messages in turn just after a third, `times` times: every move lands in
    /// the same, ever smaller gap, so keys grow until the room is respaced (~120 moves).
    Squeeze {
        user: usize,
        picks: (usize, usize, usize),
        times: usize,
    },
    Clear {
        user: usize,
    },
    Join {
        user: usize,
    },
    Leave {
        user: usize,
    },
    SetRearrange {
        user: usize,
        to: Rearrange,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    let pick = any::<usize>();
    prop_oneof![
        6 => user.clone().prop_map(|user| Op::Send { user }),
        2 => (user.clone(), pick).prop_map(|(user, pick)| Op::Retry { user, pick }),
        2 => (user.clone(), pick).prop_map(|(user, pick)| Op::Edit { user, pick }),
        2 => (user.clone(), pick).prop_map(|(user, pick)| Op::Delete { user, pick }),
        5 => (user.clone(), pick, proptest::option::of(pick))
            .prop_map(|(user, pick, after)| Op::Move { user, pick, after }),
        2 => (user.clone(), (pick, pick, pick), 100usize..200)
            .prop_map(|(user, picks, times)| Op::Squeeze { user, picks, times }),
        1 => user.clone().prop_map(|user| Op::Clear { user }),
        1 => user.clone().prop_map(|user| Op::Join { user }),
        1 => user.clone().prop_map(|user| Op::Leave { user }),
        1 => (user, prop_oneof![Just(Rearrange::Anyone), Just(Rearrange::Moderators),
                Just(Rearrange::Nobody)])
            .prop_map(|(user, to)| Op::SetRearrange { user, to }),
    ]
}

/// What the rules say about the room, kept beside the store.
struct Model {
    owner: usize,
    members: BTreeSet<usize>,
    rearrange: Rearrange,
    /// Live messages in display order: (message id, author).
    order: Vec<(String, usize)>,
    /// Every message ever sent, deleted ones included: (id, author, client_id).
    sent: Vec<(String, usize, String)>,
    next_client_id: usize,
}

impl Model {
    fn live(&self, id: &str) -> Option<usize> {
        self.order.iter().position(|(m, _)| m == id)
    }
}

/// What an operation should do.
enum Expect {
    /// Refused with this error code; nothing appended.
    Refused(&'static str),
    /// Done; these event kinds appended (a move may add respace moves before its own).
    Events(Vec<&'static str>),
    /// A move: one or more `message.moved`.
    Moved,
}

struct Case<'a> {
    chat: &'a Arc<Chat>,
    store: &'a dyn Store,
    users: Vec<User>,
    room: String,
    model: Model,
    last_seq: u64,
}

fn code(result: &Result<(), Error>) -> Option<&'static str> {
    result.as_ref().err().map(Error::code)
}

impl Case<'_> {
    fn pick_sent(&self, pick: usize) -> Option<(String, usize, String)> {
        (!self.model.sent.is_empty()).then(|| self.model.sent[pick % self.model.sent.len()].clone())
    }

    /// Carries out one operation on the store and on the model; checks the outcome and the
    /// events it appended.
    async fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.step_checked(op, true).await
    }

    async fn step_checked(&mut self, op: &Op, check_history: bool) -> Result<(), TestCaseError> {
        if let Op::Squeeze {
            user,
            picks: (a, b, c),
            times,
        } = *op
        {
            // Three distinct live messages, when there are three.
            let live: Vec<String> = self.model.order.iter().map(|(id, _)| id.clone()).collect();
            if live.len() < 3 {
                return Ok(());
            }
            let a = a % live.len();
            let b = (a + 1 + b % (live.len() - 1)) % live.len();
            let c = (0..live.len())
                .filter(|i| *i != a && *i != b)
                .nth(c % (live.len() - 2))
                .unwrap();
            let index = |id: &str| self.model.sent.iter().position(|s| s.0 == id).unwrap();
            let (a, b, c) = (index(&live[a]), index(&live[b]), index(&live[c]));
            for i in 0..times {
                let op = Op::Move {
                    user,
                    pick: if i % 2 == 0 { a } else { b },
                    after: Some(c),
                };
                // The history is checked once, after the last move.
                Box::pin(self.step_checked(&op, i + 1 == times)).await?;
            }
            return Ok(());
        }
        let (result, expect) = self.apply(op).await;
        match expect {
            Expect::Refused(expected) => {
                prop_assert_eq!(code(&result), Some(expected), "{:?}", op);
                let last = self.store.last_seq(&self.room).await.unwrap();
                prop_assert_eq!(last, self.last_seq, "a refused {:?} appended events", op);
            }
            Expect::Events(kinds) => {
                prop_assert_eq!(code(&result), None, "{:?}", op);
                let got = self.new_events().await?;
                prop_assert_eq!(got, kinds, "events of {:?}", op);
            }
            Expect::Moved => {
                prop_assert_eq!(code(&result), None, "{:?}", op);
                let got = self.new_events().await?;
                prop_assert!(
                    !got.is_empty() && got.iter().all(|k| *k == "message.moved"),
                    "events of {:?}: {:?}",
                    op,
                    got
                );
                if got.len() > 1 {
                    RESPACES.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if !check_history {
            return Ok(());
        }
        // History is in the model's order, with strictly increasing positions.
        let page = self
            .store
            .messages_before(&self.room, None, 1000)
            .await
            .unwrap();
        let ids: Vec<&str> = page.messages.iter().map(|m| m.id.as_str()).collect();
        let expected: Vec<&str> = self.model.order.iter().map(|(m, _)| m.as_str()).collect();
        prop_assert_eq!(ids, expected, "history order after {:?}", op);
        prop_assert!(
            page.messages
                .windows(2)
                .all(|w| w[0].position < w[1].position),
            "positions not strictly increasing after {:?}",
            op
        );
        Ok(())
    }

    /// The kinds of the events appended since the last step; their seqs follow on without a gap.
    async fn new_events(&mut self) -> Result<Vec<&'static str>, TestCaseError> {
        let events = self
            .store
            .events_after(&self.room, self.last_seq, 10_000)
            .await
            .unwrap();
        let mut kinds = Vec::new();
        for stored in &events {
            prop_assert_eq!(stored.seq, self.last_seq + 1, "seq gap or duplicate");
            self.last_seq = stored.seq;
            kinds.push(stored.decode().unwrap().kind.name());
        }
        prop_assert_eq!(
            self.store.last_seq(&self.room).await.unwrap(),
            self.last_seq,
            "last_seq is the last event's"
        );
        Ok(kinds)
    }

    async fn apply(&mut self, op: &Op) -> (Result<(), Error>, Expect) {
        let (chat, room) = (self.chat, self.room.as_str());
        let model = &mut self.model;
        let is_owner = |user: usize| user == model.owner;
        match *op {
            Op::Send { user } => {
                let client_id = format!("c{}", model.next_client_id);
                model.next_client_id += 1;
                let result = chat
                    .send(&self.users[user], room, &client_id, " hello ")
                    .await;
                let mut kinds = Vec::new();
                if model.members.insert(user) {
                    kinds.push("member.joined");
                }
                kinds.push("message.created");
                match result {
                    Ok((message, true)) => {
                        assert_eq!(message.body, "hello", "the trimmed body is stored");
                        model.order.push((message.id.clone(), user));
                        model.sent.push((message.id, user, client_id));
                        (Ok(()), Expect::Events(kinds))
                    }
                    Ok((_, false)) => panic!("a new client_id was taken for a retry"),
                    Err(err) => (Err(err), Expect::Events(kinds)),
                }
            }
            Op::Retry { user, pick } => {
                let mine: Vec<_> = model.sent.iter().filter(|s| s.1 == user).collect();
                if mine.is_empty() {
                    return (Ok(()), Expect::Events(vec![]));
                }
                let (id, _, client_id) = mine[pick % mine.len()].clone();
                let result = chat
                    .send(&self.users[user], room, &client_id, "again")
                    .await;
                match result {
                    Ok((message, created)) => {
                        assert!(!created, "a retry made a new message");
                        assert_eq!(message.id, id, "a retry returns the original");
                        (Ok(()), Expect::Events(vec![]))
                    }
                    Err(err) => (Err(err), Expect::Events(vec![])),
                }
            }
            Op::Edit { user, pick } => {
                let Some((id, author, _)) = self.pick_sent(pick) else {
                    return (Ok(()), Expect::Events(vec![]));
                };
                let model = &mut self.model;
                let expect = if model.live(&id).is_none() {
                    Expect::Refused("message_not_found")
                } else if author != user {
                    Expect::Refused("forbidden")
                } else {
                    Expect::Events(vec!["message.edited"])
                };
                let result = chat
                    .edit(&self.users[user], room, &id, "edited")
                    .await
                    .map(|m| assert_eq!(m.body, "edited"));
                (result, expect)
            }
            Op::Delete { user, pick } => {
                let Some((id, author, _)) = self.pick_sent(pick) else {
                    return (Ok(()), Expect::Events(vec![]));
                };
                let model = &mut self.model;
                let expect = match model.live(&id) {
                    None => Expect::Refused("message_not_found"),
                    Some(_) if author != user && user != model.owner => {
                        Expect::Refused("forbidden")
                    }
                    Some(at) => {
                        model.order.remove(at);
                        Expect::Events(vec!["message.deleted"])
                    }
                };
                let result = chat.delete_message(&self.users[user], room, &id).await;
                (result, expect)
            }
            Op::Move { user, pick, after } => {
                let Some((id, _, _)) = self.pick_sent(pick) else {
                    return (Ok(()), Expect::Events(vec![]));
                };
                let after_id = after.and_then(|a| self.pick_sent(a)).map(|s| s.0);
                let model = &mut self.model;
                let allowed = match model.rearrange {
                    Rearrange::Anyone => true,
                    Rearrange::Moderators => user == model.owner,
                    Rearrange::Nobody => false,
                };
                let expect = if !allowed {
                    Expect::Refused("forbidden")
                } else if model.live(&id).is_none() {
                    Expect::Refused("message_not_found")
                } else if after_id.as_deref() == Some(id.as_str()) {
                    Expect::Refused("invalid_request")
                } else if after_id.as_ref().is_some_and(|a| model.live(a).is_none()) {
                    Expect::Refused("message_not_found")
                } else {
                    let at = model.live(&id).unwrap();
                    let moved = model.order.remove(at);
                    let to = match &after_id {
                        Some(a) => model.live(a).unwrap() + 1,
                        None => 0,
                    };
                    model.order.insert(to, moved);
                    Expect::Moved
                };
                let result = chat
                    .move_message(&self.users[user], room, &id, after_id.as_deref())
                    .await
                    .map(|_| ());
                (result, expect)
            }
            Op::Squeeze { .. } => unreachable!("step unrolls squeezes"),
            Op::Clear { user } => {
                let expect = if is_owner(user) {
                    model.order.clear();
                    Expect::Events(vec!["room.cleared"])
                } else {
                    Expect::Refused("forbidden")
                };
                (chat.clear(&self.users[user], room).await, expect)
            }
            Op::Join { user } => {
                let kinds = if model.members.insert(user) {
                    vec!["member.joined"]
                } else {
                    vec![]
                };
                let result = chat.join(&self.users[user], room).await.map(|_| ());
                (result, Expect::Events(kinds))
            }
            Op::Leave { user } => {
                let kinds = if model.members.remove(&user) {
                    vec!["member.left"]
                } else {
                    vec![]
                };
                (
                    chat.leave(&self.users[user], room).await,
                    Expect::Events(kinds),
                )
            }
            Op::SetRearrange { user, to } => {
                let expect = if is_owner(user) {
                    model.rearrange = to;
                    Expect::Events(vec!["room.updated"])
                } else {
                    Expect::Refused("forbidden")
                };
                let result = chat
                    .update_room(
                        &self.users[user],
                        room,
                        &palaver::protocol::UpdateRoomRequest {
                            rearrange: Some(to.as_str().to_string()),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(|r| assert_eq!(r.rearrange, to));
                (result, expect)
            }
        }
    }

    /// Replays the whole log from seq 1 and compares with what the store returns.
    async fn check_replay(&self) -> Result<(), TestCaseError> {
        let log = self
            .store
            .events_after(&self.room, 0, 100_000)
            .await
            .unwrap();
        prop_assert_eq!(log.len() as u64, self.last_seq);
        let mut messages: HashMap<String, Message> = HashMap::new();
        let mut members: BTreeSet<String> = BTreeSet::new();
        let mut rearrange = Rearrange::Anyone;
        for (i, stored) in log.iter().enumerate() {
            prop_assert_eq!(stored.seq, i as u64 + 1);
            let event = stored.decode().unwrap();
            prop_assert_eq!(event.seq, stored.seq);
            prop_assert_eq!(&event.room_id, &self.room);
            match event.kind {
                EventKind::MessageCreated { message, .. } => {
                    prop_assert_eq!(message.seq, event.seq, "a message's seq is its creation's");
                    prop_assert!(messages.insert(message.id.clone(), message).is_none());
                }
                EventKind::MessageEdited { message } => {
                    prop_assert!(messages.insert(message.id.clone(), message).is_some());
                }
                EventKind::MessageDeleted { message_id, .. } => {
                    prop_assert!(messages.remove(&message_id).is_some());
                }
                EventKind::MessageMoved {
                    message_id,
                    position,
                    ..
                } => {
                    let message = messages.get_mut(&message_id);
                    prop_assert!(message.is_some(), "moved a message that is not there");
                    message.unwrap().position = position;
                }
                EventKind::RoomCleared { .. } => messages.clear(),
                EventKind::MemberJoined { user } => {
                    prop_assert!(members.insert(user.id));
                }
                EventKind::MemberLeft { user } => {
                    prop_assert!(members.remove(&user.id));
                }
                EventKind::RoomUpdated { room } => rearrange = room.rearrange,
                EventKind::MemberRoleChanged { user, .. } => {
                    prop_assert!(members.contains(&user.id), "a role of a non-member changed");
                }
                EventKind::RoomDeleted { .. } => prop_assert!(false, "room deleted"),
                EventKind::MemberKicked { user, .. } | EventKind::MemberBanned { user, .. } => {
                    members.remove(&user.id);
                }
                EventKind::MemberUnbanned { .. }
                | EventKind::MemberMuted { .. }
                | EventKind::MemberUnmuted { .. }
                | EventKind::ReactionAdded { .. }
                | EventKind::ReactionRemoved { .. }
                | EventKind::MessagePinned { .. }
                | EventKind::MessageUnpinned { .. } => {}
            }
        }
        let mut replayed: Vec<Message> = messages.into_values().collect();
        replayed.sort_by(|a, b| a.position.cmp(&b.position));
        let page = self
            .store
            .messages_before(&self.room, None, 1000)
            .await
            .unwrap();
        prop_assert_eq!(replayed, page.messages, "replayed history");
        let stored_members: BTreeSet<String> = self
            .store
            .members(&self.room)
            .await
            .unwrap()
            .into_iter()
            .map(|(user, _)| user.id)
            .collect();
        prop_assert_eq!(members, stored_members, "replayed members");
        let room = self.store.get_room(&self.room).await.unwrap();
        prop_assert_eq!(room.rearrange, rearrange);
        prop_assert_eq!(room.last_seq, self.last_seq);
        Ok(())
    }
}

static CASE: AtomicUsize = AtomicUsize::new(0);
/// Moves that respaced the room (more than one `message.moved`), across all cases.
static RESPACES: AtomicUsize = AtomicUsize::new(0);

/// Runs the property against one store, a fresh room and fresh users per case: `cases` of them
/// unless `PROPTEST_CASES` says otherwise.
fn check_store(runtime: &tokio::runtime::Runtime, store: Arc<dyn Store>, cases: u32) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path());
    config.rate_per_sec = 0;
    // The hub belongs to the runtime: the store's commit thread starts its gap fills there.
    let _runtime = runtime.enter();
    let hub = Hub::new(store.clone());
    let bus = LocalBus::new(&hub);
    hub.attach_bus(bus.clone());
    let chat = Arc::new(Chat::new(
        store.clone(),
        bus,
        hub,
        true,
        Limits::from_config(&config),
        Arc::new(Metrics::new()),
    ));
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let ops = proptest::collection::vec(op(), 1..40);
    let result = runner.run(&ops, |ops| {
        runtime.block_on(async {
            let n = CASE.fetch_add(1, Ordering::SeqCst);
            let mut users = Vec::new();
            for i in 0..USERS {
                users.push(
                    store
                        .create_user(&format!("prop{n}u{i}"), None, true)
                        .await
                        .unwrap(),
                );
            }
            let room = chat
                .create_room(&users[0], &format!("prop room {n}"), None)
                .await
                .unwrap();
            let mut case = Case {
                chat: &chat,
                store: &*store,
                users,
                room: room.id.clone(),
                model: Model {
                    owner: 0,
                    members: BTreeSet::from([0]),
                    rearrange: Rearrange::Anyone,
                    order: Vec::new(),
                    sent: Vec::new(),
                    next_client_id: 0,
                },
                last_seq: 1,
            };
            for op in &ops {
                case.step(op).await?;
            }
            case.check_replay().await
        })
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    eprintln!(
        "{cases} cases passed; moves that respaced a room so far: {}",
        RESPACES.load(Ordering::Relaxed)
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn random_operations_keep_the_log_and_the_rules_on_sqlite() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(SqliteStore::open_in(dir.path())).unwrap();
    check_store(&runtime, Arc::new(store), 32);
}

#[test]
fn random_operations_keep_the_log_and_the_rules_on_postgres() {
    let runtime = runtime();
    let (store, db) = runtime.block_on(async {
        let db = pgdb::TestDatabase::create().await;
        let store = PostgresStore::open(&db.url, 5).await.unwrap();
        (store, db)
    });
    let store: Arc<dyn Store> = Arc::new(store);
    // Fewer cases: every step is a few round trips to the server.
    check_store(&runtime, store.clone(), 16);
    runtime.block_on(async {
        drop(store);
    });
    drop(db);
}
