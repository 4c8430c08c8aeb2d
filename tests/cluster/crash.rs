//! Crash consistency of the embedded setup: the real binary on an SQLite data dir, killed with
//! SIGKILL at random moments while clients send, or stopped with SIGTERM in the middle of a
//! burst of sends. After the last restart, every acknowledged message is in the event log and in
//! history exactly once, `seq` has no gaps, replaying the log gives the history, and clients
//! resume to exactly the store's state.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::chatter::Chatter;
use crate::harness::{connect, eventually, Closed, Node, WAIT};
use palaver_client::Rest;

/// The real binary on a temporary data dir, with a REST client. Prints the log on failure.
struct Embedded {
    node: Node,
    rest: Rest,
    dir: tempfile::TempDir,
}

impl Embedded {
    async fn start() -> Embedded {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut node = Node::embedded(dir.path(), "solo");
        node.start().await;
        Embedded {
            rest: Rest::new(&node.url("")),
            node,
            dir,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self
            .rest
            .get(path, Some(token))
            .await
            .expect("request sent");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A guest: (user id, token).
    async fn guest(&self, name: &str) -> (String, String) {
        let session = self.rest.guest(name).await.expect("a guest signs in");
        (session.user.id, session.token)
    }

    async fn create_room(&self, token: &str, name: &str) -> String {
        let room = self.rest.create_room(token, name).await;
        room.expect("the room is created").id
    }

    /// The store's view of a room over REST: every event (`events?after=`, paged) and the whole
    /// history (paged back with `before`), both checked for consistency with each other.
    async fn store_state(&self, token: &str, room: &str) -> StoreState {
        let mut events: Vec<Value> = Vec::new();
        loop {
            let after = events.len();
            let page = self
                .get(
                    &format!("/api/rooms/{room}/events?after={after}&limit=1000"),
                    token,
                )
                .await;
            let got = page["events"].as_array().unwrap().clone();
            let last_seq = page["last_seq"].as_u64().unwrap();
            if got.is_empty() {
                assert_eq!(events.len() as u64, last_seq, "the log ends at last_seq");
                break;
            }
            events.extend(got);
        }
        let mut history: Vec<Value> = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let path = match &before {
                Some(position) => {
                    format!("/api/rooms/{room}/messages?limit=200&before={position}")
                }
                None => format!("/api/rooms/{room}/messages?limit=200"),
            };
            let page = self.get(&path, token).await;
            let mut messages = page["messages"].as_array().unwrap().clone();
            if let Some(first) = messages.first() {
                before = Some(first["position"].as_str().unwrap().to_string());
            }
            messages.append(&mut history);
            history = messages;
            if page["has_more"] != true {
                break;
            }
        }
        let state = StoreState { events, history };
        state.check();
        state
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- {} log (in {}) -----\n{}",
                self.node.name,
                self.dir.path().display(),
                self.node.log()
            );
        }
    }
}

/// A room's event log and history as the store returned them.
struct StoreState {
    events: Vec<Value>,
    history: Vec<Value>,
}

impl StoreState {
    /// `seq` is 1, 2, 3, … without a gap; replaying the log from seq 1 gives exactly the
    /// history, in position order; no author has two messages with one `client_id`.
    fn check(&self) {
        for (i, event) in self.events.iter().enumerate() {
            assert_eq!(
                event["seq"],
                i as u64 + 1,
                "seq gap or duplicate at {event}"
            );
        }
        // Replay: message id -> message, then order by position.
        let mut live: HashMap<String, Value> = HashMap::new();
        for event in &self.events {
            match event["kind"].as_str().unwrap() {
                "message.created" | "message.edited" => {
                    let message = event["message"].clone();
                    live.insert(message["id"].as_str().unwrap().to_string(), message);
                }
                "message.deleted" => {
                    live.remove(event["message_id"].as_str().unwrap());
                }
                "message.moved" => {
                    let message = live
                        .get_mut(event["message_id"].as_str().unwrap())
                        .expect("a moved message exists");
                    message["position"] = event["position"].clone();
                }
                "room.cleared" => live.clear(),
                _ => {}
            }
        }
        let mut replayed: Vec<Value> = live.into_values().collect();
        replayed.sort_by(|a, b| a["position"].as_str().cmp(&b["position"].as_str()));
        assert_eq!(
            replayed, self.history,
            "replaying the log gives the history"
        );
        let mut seen = HashMap::new();
        for message in &self.history {
            let key = (
                message["author"]["id"].as_str().unwrap().to_string(),
                message["client_id"].as_str().unwrap().to_string(),
            );
            assert!(seen.insert(key, ()).is_none(), "doubled: {message}");
        }
    }

    fn last_seq(&self) -> u64 {
        self.events.len() as u64
    }

    /// History by (author id, client_id).
    fn by_client_id(&self) -> HashMap<(String, String), &Value> {
        self.history
            .iter()
            .map(|m| {
                (
                    (
                        m["author"]["id"].as_str().unwrap().to_string(),
                        m["client_id"].as_str().unwrap().to_string(),
                    ),
                    m,
                )
            })
            .collect()
    }

    fn ids(&self) -> Vec<String> {
        self.history
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A fresh socket resuming from `after` must replay exactly the store's log past it.
async fn check_resume(server: &Embedded, token: &str, room: &str, state: &StoreState, after: u64) {
    let mut socket = connect(&server.node.addr(), token).await.expect("connects");
    let (replayed, subscribed) = socket.resume(room, Some(after)).await.expect("resumes");
    assert_eq!(subscribed["last_seq"], state.last_seq());
    assert_eq!(
        replayed.as_slice(),
        &state.events[after as usize..],
        "resuming after {after} replays the rest of the log"
    );
    socket.close().await;
}

const CLIENTS: usize = 6;
const KILLS: usize = 20;

#[tokio::test]
async fn acknowledged_sends_survive_sigkill_at_random_moments() {
    let seed: u64 = std::env::var("PALAVER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash schedule seed {seed} (PALAVER_CRASH_SEED={seed} replays the schedule)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = Embedded::start().await;
    let (_, owner) = server.guest("owner").await;
    let room = server.create_room(&owner, "Crashy").await;

    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut users = HashMap::new();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let name = format!("client{i}");
        let (user_id, token) = server.guest(&name).await;
        users.insert(name.clone(), user_id);
        let mut chatter = Chatter::join(&name, &token, &room, vec![server.node.addr()], 0).await;
        let (acked, stop) = (acked.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            // Send until told to stop; each send is retried with its client_id until acked,
            // across every kill (a new socket, resuming the room from the last seq it saw).
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let client_id = format!("{}-{n}", chatter.name);
                chatter.send(&client_id, &format!("message {n}")).await;
                acked.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
            chatter
        }));
    }

    let started = Instant::now();
    let mut in_flight_at_kill = Vec::new();
    for _ in 0..KILLS {
        // Let the clients get going again (a few acks since the restart), then kill at a
        // random moment within the next stretch of sends.
        let target = acked.load(Ordering::SeqCst) + rng.gen_range(1..=CLIENTS * 2);
        let acked_now = acked.clone();
        eventually("acks after the restart", || {
            let acked = acked_now.clone();
            async move { (acked.load(Ordering::SeqCst) >= target).then_some(()) }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..120))).await;
        in_flight_at_kill.push(acked.load(Ordering::SeqCst));
        server.node.kill().await;
        server.node.start().await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut chatters = Vec::new();
    for task in tasks {
        chatters.push(
            tokio::time::timeout(WAIT * 4, task)
                .await
                .expect("clients finish")
                .expect("client task"),
        );
    }
    eprintln!(
        "{KILLS} SIGKILLs in {:?}; acks so far at each kill: {in_flight_at_kill:?}",
        started.elapsed()
    );

    let state = server.store_state(&owner, &room).await;
    let stored = state.by_client_id();
    let mut total_acked = 0;
    for chatter in &chatters {
        let user_id = &users[&chatter.name];
        for client_id in &chatter.acked {
            assert!(
                stored.contains_key(&(user_id.clone(), client_id.clone())),
                "{client_id} was acknowledged but is not in history"
            );
        }
        total_acked += chatter.acked.len();
    }
    // Every client retried each send until acked, so nothing is stored that was not acked.
    assert_eq!(
        state.history.len(),
        total_acked,
        "history holds exactly the acknowledged messages"
    );
    // Every client, resumed across all the kills, holds exactly the store's log.
    for chatter in &mut chatters {
        chatter.catch_up_to(state.last_seq()).await;
        assert_eq!(chatter.last_seq, state.last_seq());
        assert_eq!(chatter.created, state.ids(), "{}'s messages", chatter.name);
    }
    // A resume replays at most REPLAY_MAX events (further behind, the answer is `resync`): resume
    // from as far back as that allows, and from a random point within it.
    let oldest = state
        .last_seq()
        .saturating_sub(palaver::gateway::REPLAY_MAX);
    check_resume(&server, &owner, &room, &state, oldest).await;
    let middle = rng.gen_range(oldest..state.last_seq());
    check_resume(&server, &owner, &room, &state, middle).await;
    for chatter in chatters {
        chatter.close().await;
    }
    eprintln!(
        "{} messages acknowledged, all in history once; last seq {}",
        total_acked,
        state.last_seq()
    );
}

/// Answers one client got for its burst before the socket ended.
#[derive(Default)]
struct Answers {
    /// client_id -> (message id, seq) from the ack.
    acks: BTreeMap<String, (String, u64)>,
    errors: BTreeMap<String, String>,
}

const BURST: usize = 150;

#[tokio::test]
async fn a_clean_shutdown_mid_burst_acks_or_fails_every_send_and_loses_no_ack() {
    let mut server = Embedded::start().await;
    let (_, owner) = server.guest("owner").await;
    let room = server.create_room(&owner, "Closing").await;

    // An observer that keeps the log as it streams by, to resume after the restart.
    let mut observer = connect(&server.node.addr(), &owner).await.unwrap();
    let (replayed, _) = observer.resume(&room, Some(0)).await.unwrap();
    let observer_task = tokio::spawn(async move {
        let mut seen: Vec<Value> = replayed;
        let closed = loop {
            match observer.next_within(WAIT * 2).await {
                Ok(frame) if frame["type"] == "event" => seen.push(frame["event"].clone()),
                Ok(_) => {}
                Err(closed) => break closed,
            }
        };
        (seen, closed)
    });

    // Every client writes its whole burst at once, then reads answers until the socket ends.
    let acked = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    let mut readers = Vec::new();
    for i in 0..CLIENTS {
        let name = format!("sender{i}");
        let (user_id, token) = server.guest(&name).await;
        let mut socket = connect(&server.node.addr(), &token).await.unwrap();
        for n in 0..BURST {
            let frame = json!({"type": "send", "room_id": room, "client_id": format!("{name}-{n}"),
                "body": format!("burst {n}")});
            socket.try_send(frame).await.unwrap();
        }
        let acked = acked.clone();
        readers.push(tokio::spawn(async move {
            let mut answers = Answers::default();
            let closed = loop {
                match socket.next_within(WAIT * 2).await {
                    Ok(frame) if frame["type"] == "ack" => {
                        let message = &frame["message"];
                        answers.acks.insert(
                            frame["client_id"].as_str().unwrap().to_string(),
                            (
                                message["id"].as_str().unwrap().to_string(),
                                message["seq"].as_u64().unwrap(),
                            ),
                        );
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(frame) if frame["type"] == "error" => {
                        answers.errors.insert(
                            frame["client_id"].as_str().unwrap_or_default().to_string(),
                            frame["code"].as_str().unwrap_or_default().to_string(),
                        );
                    }
                    Ok(_) => {}
                    Err(closed) => break closed,
                }
            };
            (answers, closed)
        }));
        clients.push((name, user_id, token));
    }
    // SIGTERM as soon as the first sends are acknowledged: the rest are in flight.
    let acked_now = acked.clone();
    eventually("the first acks", || {
        let acked = acked_now.clone();
        async move { (acked.load(Ordering::SeqCst) >= CLIENTS).then_some(()) }
    })
    .await;
    server.node.stop().await;

    let mut answers = Vec::new();
    for reader in readers {
        let (got, closed) = tokio::time::timeout(WAIT * 2, reader)
            .await
            .expect("readers end")
            .unwrap();
        assert_eq!(closed, Closed::Code(1001), "closed as going away");
        for (client_id, code) in &got.errors {
            assert_eq!(code, "unavailable", "{client_id} failed with {code}");
        }
        answers.push(got);
    }
    let (observed, closed) = observer_task.await.unwrap();
    assert_eq!(closed, Closed::Code(1001));

    server.node.start().await;
    let state = server.store_state(&owner, &room).await;
    let stored = state.by_client_id();
    let (mut n_acked, mut n_failed, mut n_unanswered, mut n_committed_unacked) = (0, 0, 0, 0);
    for ((name, user_id, _), got) in clients.iter().zip(&answers) {
        for (client_id, (id, seq)) in &got.acks {
            let message = stored
                .get(&(user_id.clone(), client_id.clone()))
                .unwrap_or_else(|| panic!("{client_id} was acknowledged, then vanished"));
            assert_eq!(message["id"].as_str(), Some(id.as_str()));
            assert_eq!(message["seq"].as_u64(), Some(*seq));
        }
        n_acked += got.acks.len();
        n_failed += got.errors.len();
        for n in 0..BURST {
            let client_id = format!("{name}-{n}");
            if !got.acks.contains_key(&client_id) && !got.errors.contains_key(&client_id) {
                n_unanswered += 1;
            }
            if !got.acks.contains_key(&client_id)
                && stored.contains_key(&(user_id.clone(), client_id))
            {
                n_committed_unacked += 1;
            }
        }
    }
    eprintln!(
        "SIGTERM mid-burst: {n_acked} acked, {n_failed} failed, {n_unanswered} unanswered; \
         {n_committed_unacked} committed without an ack (a retry finds them)"
    );
    assert!(
        n_acked < CLIENTS * BURST,
        "the stop came while sends were in flight"
    );

    // The observer resumes where its stream ended and ends up with exactly the store's log.
    for (i, event) in observed.iter().enumerate() {
        assert_eq!(event["seq"], i as u64 + 1, "live stream had a gap");
    }
    check_resume(&server, &owner, &room, &state, observed.len() as u64).await;

    // Clients retry everything not acknowledged, with the same client_ids: each is then stored
    // exactly once, and a send that had committed answers with its original message.
    for ((name, user_id, token), got) in clients.iter().zip(&answers) {
        let mut socket = connect(&server.node.addr(), token).await.unwrap();
        let retries: Vec<String> = (0..BURST)
            .map(|n| format!("{name}-{n}"))
            .filter(|c| !got.acks.contains_key(c))
            .collect();
        for client_id in &retries {
            let frame = json!({"type": "send", "room_id": room, "client_id": client_id,
                "body": "retry"});
            socket.try_send(frame).await.unwrap();
        }
        for _ in &retries {
            let ack = socket
                .expect_with("a retry's ack", |f| (f["type"] == "ack").then(|| f.clone()))
                .await;
            let client_id = ack["client_id"].as_str().unwrap().to_string();
            if let Some(original) = stored.get(&(user_id.clone(), client_id)) {
                assert_eq!(ack["message"]["id"], original["id"], "the original message");
            }
        }
        socket.close().await;
    }
    let state = server.store_state(&owner, &room).await;
    assert_eq!(
        state.history.len(),
        CLIENTS * BURST,
        "every send stored once"
    );
}
