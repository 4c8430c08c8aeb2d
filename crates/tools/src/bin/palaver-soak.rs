//! `palaver-soak`: a long, mixed load against a running Palaver that checks it loses nothing and
//! does not leak. Run it through `scripts/soak`, which starts a release server for it.
//!
//! (Over 500 lines: one tool, a load loop and the checker of its invariants, that reads best
//! in one place.)
//!
//! Each client is a guest with one WebSocket. At `--rate` actions a second (on average) it sends
//! a message to one of its rooms (retrying the same `client_id` until acknowledged, across
//! reconnects), joins another room, leaves one, reconnects cleanly, or drops its connection
//! abruptly and comes back. Every client keeps, per room, the last `seq` it holds and resumes
//! from it; any gap or duplicate in what it receives is a violation.
//!
//! At the end every client catches up to the store's `last_seq` of its rooms; then each room's
//! log (`events?after=0`) must be gap-free and its history must hold every acknowledged message
//! exactly once, and nothing else. The server's RSS and open file descriptors are sampled from
//! /proc at the start, after warm-up, periodically, at the end of the load and after every
//! client has gone. The run fails (exit 1) on any violation, on RSS growth from warm-up to the
//! end of the load beyond `--max-rss-growth-mib`, or on more descriptors after the clients are
//! gone than before they came (plus `--fd-slack`). It prints one JSON result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use palaver_client::{Closed, Connect, Rest, WsClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "palaver-soak",
    about = "Long mixed load: no loss, no leak (see scripts/soak)"
)]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's pid, for RSS and file descriptors from /proc.
    #[arg(long)]
    server_pid: u32,
    /// Seconds of load.
    #[arg(long, default_value_t = 1800.0)]
    duration_secs: f64,
    /// Clients (each a guest with one socket).
    #[arg(long, default_value_t = 24)]
    clients: usize,
    /// Rooms the clients move between.
    #[arg(long, default_value_t = 4)]
    rooms: usize,
    /// Actions a second per client, on average (most of them sends).
    #[arg(long, default_value_t = 0.5)]
    rate: f64,
    /// Seconds between /proc samples.
    #[arg(long, default_value_t = 30.0)]
    sample_secs: f64,
    /// Seconds of load before the RSS baseline is taken.
    #[arg(long, default_value_t = 60.0)]
    warmup_secs: f64,
    /// Allowed RSS growth (MiB) from the end of warm-up to the end of the load.
    #[arg(long, default_value_t = 20.0)]
    max_rss_growth_mib: f64,
    /// Allowed extra open descriptors after every client has gone (the count is given up to 30 s
    /// to come back), over the count before any came.
    #[arg(long, default_value_t = 16)]
    fd_slack: i64,
    /// Seed of the clients' choices (random when absent).
    #[arg(long)]
    seed: Option<u64>,
}

/// How long any single wait may take.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Counters {
    acked: AtomicU64,
    retries: AtomicU64,
    joins: AtomicU64,
    leaves: AtomicU64,
    reconnects: AtomicU64,
    drops: AtomicU64,
    reconnects_after_loss: AtomicU64,
    events: AtomicU64,
    violations: AtomicU64,
}

struct Shared {
    cli: Cli,
    api: Rest,
    rooms: Vec<String>,
    counters: Counters,
    /// (room, author id, client_id) -> message id, for every acknowledged send.
    acked: Mutex<HashMap<(String, String, String), String>>,
    problems: Mutex<Vec<String>>,
}

impl Shared {
    fn violation(&self, what: String) {
        self.counters.violations.fetch_add(1, Ordering::SeqCst);
        eprintln!("VIOLATION: {what}");
        let mut problems = self.problems.lock().unwrap();
        if problems.len() < 50 {
            problems.push(what);
        }
    }

    async fn rest(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
        let answer = match method {
            "GET" => self.api.get(path, token).await,
            _ => self.api.post(path, token, body).await,
        };
        let (status, body) = answer.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }
}

/// What a process's open descriptors point at, counted by kind (`socket`, `pipe`, a file path).
fn fd_kinds(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut kinds = std::collections::BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.display().to_string();
                let kind = target.split(':').next().unwrap_or_default().to_string();
                *kinds.entry(kind).or_insert(0) += 1;
            }
        }
    }
    kinds
}

/// RSS (KiB) and open descriptors of a process.
fn sample(pid: u32) -> (u64, i64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as i64)
        .unwrap_or(-1);
    (rss, fds)
}

struct Client {
    shared: Arc<Shared>,
    name: String,
    user_id: String,
    token: String,
    ws: Option<WsClient>,
    /// Subscribed rooms and the last seq held for each.
    rooms: HashMap<String, u64>,
    /// A subscribe sent and not yet answered.
    subscribing: Option<String>,
    /// The send waiting for its ack: (room, client_id).
    pending: Option<(String, String)>,
    sent: u64,
    rng: StdRng,
}

impl Client {
    fn ws_options(&self) -> Connect {
        let host = self.shared.cli.url.trim_start_matches("http://");
        Connect::new(host).query_token(&self.token).wait(WAIT)
    }

    async fn write(&mut self, frame: Value) -> bool {
        match self.ws.as_mut() {
            Some(ws) => ws.try_send(frame).await.is_ok(),
            None => false,
        }
    }

    /// The next frame within `limit` (`None` when none came), or `Err` when the socket ended.
    async fn next_frame(&mut self, limit: Duration) -> Result<Option<Value>, ()> {
        let ws = self.ws.as_mut().ok_or(())?;
        match ws.next_within(limit).await {
            Ok(frame) => Ok(Some(frame)),
            Err(Closed::TimedOut) => Ok(None),
            Err(Closed::Code(_) | Closed::Dropped) => Err(()),
        }
    }

    /// Connects and resumes every room from the last seq held; sends the pending send again.
    async fn connect(&mut self) {
        let deadline = Instant::now() + WAIT;
        'again: loop {
            assert!(Instant::now() < deadline, "{}: cannot reconnect", self.name);
            self.ws = None;
            // A join whose answer was lost with the socket: it may or may not have happened;
            // the client simply does not hold that room.
            self.subscribing = None;
            let Ok(ws) = WsClient::open(&self.ws_options()).await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            self.ws = Some(ws);
            let rooms: Vec<(String, u64)> =
                self.rooms.iter().map(|(r, s)| (r.clone(), *s)).collect();
            for (room, after) in rooms {
                if !self
                    .write(json!({"type": "subscribe", "room_id": room, "after": after}))
                    .await
                {
                    continue 'again;
                }
                loop {
                    match self.next_frame(WAIT).await {
                        Err(()) => continue 'again,
                        Ok(None) => {}
                        Ok(Some(frame)) => {
                            let done = frame["type"] == "subscribed" && frame["room_id"] == room;
                            if frame["type"] == "resync" {
                                self.shared
                                    .violation(format!("{}: resync resuming {room}", self.name));
                                let last = frame["last_seq"].as_u64().unwrap_or(0);
                                self.rooms.insert(room.clone(), last);
                                break;
                            }
                            self.handle(frame);
                            if done {
                                break;
                            }
                        }
                    }
                }
            }
            if let Some((room, client_id)) = self.pending.clone() {
                self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
                let frame = json!({"type": "send", "room_id": room, "client_id": client_id,
                    "body": format!("soak {client_id}")});
                if !self.write(frame).await {
                    continue 'again;
                }
            }
            return;
        }
    }

    fn take_event(&mut self, event: &Value) {
        let room = event["room_id"].as_str().unwrap_or_default();
        let seq = event["seq"].as_u64().unwrap_or(0);
        let Some(last) = self.rooms.get_mut(room) else {
            return; // a room just left: its tail may still arrive
        };
        if seq != *last + 1 {
            let what = format!("{}: {room} seq {seq} after {last}", self.name);
            *last = (*last).max(seq);
            self.shared.violation(what);
            return;
        }
        *last = seq;
        self.shared.counters.events.fetch_add(1, Ordering::Relaxed);
    }

    /// One frame from the server (not while resuming a room).
    fn handle(&mut self, frame: Value) {
        match frame["type"].as_str() {
            Some("event") => self.take_event(&frame["event"]),
            Some("subscribed") => {
                let room = frame["room_id"].as_str().unwrap_or_default().to_string();
                if self.subscribing.as_deref() == Some(room.as_str()) {
                    self.subscribing = None;
                    let last = frame["last_seq"].as_u64().unwrap_or(0);
                    self.rooms.insert(room, last);
                }
            }
            Some("ack") => {
                if let Some((room, client_id)) = self.pending.clone() {
                    if frame["client_id"] == client_id.as_str() {
                        let id = frame["message"]["id"].as_str().unwrap_or_default();
                        let key = (room, self.user_id.clone(), client_id);
                        self.shared
                            .acked
                            .lock()
                            .unwrap()
                            .insert(key, id.to_string());
                        self.shared.counters.acked.fetch_add(1, Ordering::Relaxed);
                        self.pending = None;
                    }
                }
            }
            Some("error") => {
                let code = frame["code"].as_str().unwrap_or_default();
                let retryable = matches!(code, "unavailable" | "rate_limited");
                if !retryable {
                    self.shared
                        .violation(format!("{}: error frame {frame}", self.name));
                }
                if frame["client_id"].is_string() && self.pending.is_some() {
                    // Sent again after the next reconnect or action tick.
                    self.ws = None;
                }
            }
            _ => {}
        }
    }

    async fn act(&mut self) {
        let roll: f64 = self.rng.gen();
        let rooms = self.shared.rooms.clone();
        if roll < 0.70 && !self.rooms.is_empty() {
            let mine: Vec<String> = self.rooms.keys().cloned().collect();
            let room = mine[self.rng.gen_range(0..mine.len())].clone();
            let client_id = format!("{}-{}", self.name, self.sent);
            self.sent += 1;
            self.pending = Some((room.clone(), client_id.clone()));
            let frame = json!({"type": "send", "room_id": room, "client_id": client_id,
                "body": format!("soak {client_id}")});
            if !self.write(frame).await {
                self.lost();
            }
        } else if roll < 0.78 {
            let others: Vec<&String> = rooms
                .iter()
                .filter(|r| !self.rooms.contains_key(*r))
                .collect();
            if let Some(room) = others.get(self.rng.gen_range(0..others.len().max(1))) {
                let room = (*room).clone();
                self.shared.counters.joins.fetch_add(1, Ordering::Relaxed);
                self.subscribing = Some(room.clone());
                if !self
                    .write(json!({"type": "subscribe", "room_id": room}))
                    .await
                {
                    self.lost();
                }
            }
        } else if roll < 0.85 && self.rooms.len() > 1 && self.subscribing.is_none() {
            let mine: Vec<String> = self.rooms.keys().cloned().collect();
            let room = mine[self.rng.gen_range(0..mine.len())].clone();
            self.rooms.remove(&room);
            self.shared.counters.leaves.fetch_add(1, Ordering::Relaxed);
            if !self
                .write(json!({"type": "unsubscribe", "room_id": room}))
                .await
            {
                self.lost();
            }
            let path = format!("/api/rooms/{room}/leave");
            self.shared
                .rest("POST", &path, Some(&self.token), json!({}))
                .await;
        } else if roll < 0.93 && self.subscribing.is_none() {
            self.shared
                .counters
                .reconnects
                .fetch_add(1, Ordering::Relaxed);
            if let Some(ws) = self.ws.take() {
                ws.close().await;
            }
            self.connect().await;
        } else if self.subscribing.is_none() {
            // Gone without a goodbye (a laptop lid shut), back a little later.
            self.shared.counters.drops.fetch_add(1, Ordering::Relaxed);
            drop(self.ws.take());
            let pause = self.rng.gen_range(200..2000);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            self.connect().await;
        }
    }

    fn lost(&mut self) {
        self.ws = None;
    }

    async fn run(mut self, end: Instant) -> Client {
        self.connect().await;
        let mean = 1.0 / self.shared.cli.rate;
        let mut next =
            Instant::now() + Duration::from_secs_f64(self.rng.gen_range(0.0..mean * 2.0));
        loop {
            let now = Instant::now();
            if now >= end && self.pending.is_none() && self.subscribing.is_none() {
                return self;
            }
            if self.ws.is_none() {
                self.shared
                    .counters
                    .reconnects_after_loss
                    .fetch_add(1, Ordering::Relaxed);
                self.connect().await;
                continue;
            }
            let idle = self.pending.is_none() && self.subscribing.is_none() && now < end;
            let wait = if idle {
                next.saturating_duration_since(now)
            } else {
                Duration::from_secs(5)
            };
            match self.next_frame(wait.max(Duration::from_millis(1))).await {
                Err(()) => self.lost(),
                Ok(Some(frame)) => self.handle(frame),
                Ok(None) => {
                    if idle && Instant::now() >= next {
                        self.act().await;
                        next = Instant::now()
                            + Duration::from_secs_f64(self.rng.gen_range(0.0..mean * 2.0));
                    } else if self.pending.is_some() {
                        // No ack within 5 s: send it again on a fresh connection.
                        self.lost();
                    }
                }
            }
        }
    }

    /// Reads until every subscribed room is at the store's `last_seq`.
    async fn catch_up(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut behind = false;
            for (room, last) in self.rooms.clone() {
                let info = self
                    .shared
                    .rest(
                        "GET",
                        &format!("/api/rooms/{room}"),
                        Some(&self.token),
                        Value::Null,
                    )
                    .await;
                if info["last_seq"].as_u64().unwrap_or(0) > last {
                    behind = true;
                }
            }
            if !behind {
                return;
            }
            if Instant::now() > deadline {
                self.shared
                    .violation(format!("{}: never caught up {:?}", self.name, self.rooms));
                return;
            }
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until {
                match self.next_frame(Duration::from_millis(200)).await {
                    Err(()) => {
                        self.connect().await;
                    }
                    Ok(Some(frame)) => self.handle(frame),
                    Ok(None) => {}
                }
            }
        }
    }
}

/// Checks one room in the store: a gap-free log, and a history holding exactly the
/// acknowledged messages, once each. Answers (events, messages).
async fn verify_room(shared: &Shared, token: &str, room: &str) -> (u64, u64) {
    let mut after = 0u64;
    loop {
        let page = shared
            .rest(
                "GET",
                &format!("/api/rooms/{room}/events?after={after}&limit=1000"),
                Some(token),
                Value::Null,
            )
            .await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            if page["last_seq"].as_u64() != Some(after) {
                shared.violation(format!(
                    "{room}: log ends at {after}, last_seq {}",
                    page["last_seq"]
                ));
            }
            break;
        }
        for event in events {
            let seq = event["seq"].as_u64().unwrap_or(0);
            if seq != after + 1 {
                shared.violation(format!("{room}: store log seq {seq} after {after}"));
            }
            after = seq;
        }
    }
    let mut stored: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut before: Option<String> = None;
    let mut count = 0u64;
    loop {
        let path = match &before {
            Some(p) => format!("/api/rooms/{room}/messages?limit=200&before={p}"),
            None => format!("/api/rooms/{room}/messages?limit=200"),
        };
        let page = shared.rest("GET", &path, Some(token), Value::Null).await;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        if let Some(first) = messages.first() {
            before = first["position"].as_str().map(str::to_string);
        }
        for m in &messages {
            count += 1;
            let key = (
                m["author"]["id"].as_str().unwrap_or_default().to_string(),
                m["client_id"].as_str().unwrap_or_default().to_string(),
            );
            stored
                .entry(key)
                .or_default()
                .push(m["id"].as_str().unwrap_or_default().to_string());
        }
        if page["has_more"] != true {
            break;
        }
    }
    let acked: Vec<((String, String, String), String)> = shared
        .acked
        .lock()
        .unwrap()
        .iter()
        .filter(|((r, _, _), _)| r == room)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for ((_, author, client_id), id) in &acked {
        match stored.get(&(author.clone(), client_id.clone())) {
            Some(ids) if ids.len() == 1 && &ids[0] == id => {}
            Some(ids) => {
                shared.violation(format!("{room}: {client_id} stored as {ids:?}, acked {id}"))
            }
            None => shared.violation(format!("{room}: acked {client_id} is not in history")),
        }
    }
    if count != acked.len() as u64 {
        shared.violation(format!(
            "{room}: history holds {count} messages, {} were acknowledged",
            acked.len()
        ));
    }
    (after, count)
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(rand::random);
    let pid = cli.server_pid;
    let started = Instant::now();
    let (rss_start, fds_start) = sample(pid);
    let kinds_start = fd_kinds(pid);
    eprintln!("soak: seed {seed}; server pid {pid}: RSS {rss_start} KiB, {fds_start} fds before any client");

    let mut shared = Shared {
        cli: cli.clone(),
        api: Rest::new(&cli.url),
        rooms: Vec::new(),
        counters: Counters::default(),
        acked: Mutex::new(HashMap::new()),
        problems: Mutex::new(Vec::new()),
    };
    let owner = shared
        .api
        .guest(&format!("soak-owner-{}", seed % 100_000))
        .await
        .expect("the owner signs in");
    for i in 0..cli.rooms {
        let room = shared
            .api
            .create_room(&owner.token, &format!("Soak {i} {}", seed % 100_000))
            .await
            .expect("a room is created");
        shared.rooms.push(room.id);
    }
    let shared = Arc::new(shared);
    let end = Instant::now() + Duration::from_secs_f64(cli.duration_secs);
    let mut tasks = Vec::new();
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..cli.clients {
        let name = format!("soak{i}-{}", seed % 100_000);
        let guest = shared.api.guest(&name).await.expect("a guest signs in");
        let first = shared.rooms[i % shared.rooms.len()].clone();
        let mut rooms = HashMap::new();
        rooms.insert(first, 0);
        let client = Client {
            shared: shared.clone(),
            name,
            user_id: guest.user.id,
            token: guest.token,
            ws: None,
            rooms,
            subscribing: None,
            pending: None,
            sent: 0,
            rng: StdRng::seed_from_u64(rng.gen()),
        };
        tasks.push(tokio::spawn(client.run(end)));
    }

    // Sample while the load runs.
    let mut samples = Vec::new();
    let mut warm: Option<(u64, i64)> = None;
    let warm_at = started + Duration::from_secs_f64(cli.warmup_secs.min(cli.duration_secs / 2.0));
    let mut next_sample = Instant::now();
    while Instant::now() < end {
        let now = Instant::now();
        if warm.is_none() && now >= warm_at {
            warm = Some(sample(pid));
        }
        if now >= next_sample {
            let (rss, fds) = sample(pid);
            let c = &shared.counters;
            let line = json!({"t": started.elapsed().as_secs(), "rss_kib": rss, "fds": fds,
                "acked": c.acked.load(Ordering::Relaxed), "events": c.events.load(Ordering::Relaxed),
                "violations": c.violations.load(Ordering::Relaxed)});
            eprintln!("soak: {line}");
            samples.push(line);
            next_sample = now + Duration::from_secs_f64(cli.sample_secs);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.expect("client task"));
    }
    let (rss_load_end, fds_load_end) = sample(pid);
    for client in &mut clients {
        client.catch_up().await;
    }
    for client in &mut clients {
        if let Some(ws) = client.ws.take() {
            ws.close().await;
        }
    }
    let mut events = 0;
    let mut messages = 0;
    for room in &shared.rooms {
        let (e, m) = verify_room(&shared, &owner.token, room).await;
        events += e;
        messages += m;
    }
    // The server closes its side of every socket (waiting up to 2 s for each client's close
    // reply): wait until the count is back to where it started, at most 30 s.
    let settle = Instant::now() + Duration::from_secs(30);
    let (mut rss_after, mut fds_after) = sample(pid);
    while fds_after > fds_start && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(500)).await;
        (rss_after, fds_after) = sample(pid);
    }
    let settle_secs = 30.0
        - settle
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
    let (rss_warm, fds_warm) = warm.unwrap_or((rss_start, fds_start));
    let growth_mib = (rss_load_end as f64 - rss_warm as f64) / 1024.0;
    let c = &shared.counters;
    let violations = c.violations.load(Ordering::SeqCst);
    let rss_ok = growth_mib <= cli.max_rss_growth_mib;
    let fds_ok = fds_after <= fds_start + cli.fd_slack;
    let pass = violations == 0 && rss_ok && fds_ok;
    let result = json!({
        "pass": pass,
        "seed": seed,
        "duration_secs": cli.duration_secs,
        "wall_secs": started.elapsed().as_secs_f64(),
        "clients": cli.clients, "rooms": cli.rooms, "rate_per_client": cli.rate,
        "acked": c.acked.load(Ordering::SeqCst),
        "messages_in_history": messages,
        "events_in_logs": events,
        "events_delivered": c.events.load(Ordering::SeqCst),
        "send_retries": c.retries.load(Ordering::SeqCst),
        "joins": c.joins.load(Ordering::SeqCst),
        "leaves": c.leaves.load(Ordering::SeqCst),
        "clean_reconnects": c.reconnects.load(Ordering::SeqCst),
        "abrupt_drops": c.drops.load(Ordering::SeqCst),
        "reconnects_after_loss": c.reconnects_after_loss.load(Ordering::SeqCst),
        "violations": violations,
        "problems": *shared.problems.lock().unwrap(),
        "rss_kib": {"start": rss_start, "warm": rss_warm, "load_end": rss_load_end, "after_clients": rss_after},
        "rss_growth_mib": growth_mib, "max_rss_growth_mib": cli.max_rss_growth_mib,
        "fds": {"start": fds_start, "warm": fds_warm, "load_end": fds_load_end, "after_clients": fds_after},
        "fd_slack": cli.fd_slack,
        "fd_kinds": {"start": kinds_start, "after_clients": fd_kinds(pid)},
        "settle_secs": settle_secs,
        "samples": samples,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if !pass {
        std::process::exit(1);
    }
}
