//! The three kinds of run every preset is made of: broadcast (rooms × subscribers with rated
//! publishers), idle (many signed-in, subscribed sockets doing nothing) and persisted sends
//! (closed-loop senders as fast as acks allow). Each is bounded in time and in count.
//!
//! (Over 500 lines: the three runs share their connection set-up, pacing and teardown, which
//! splitting would scatter; each run is one function.)

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{self, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, classify, Frame, Rest, Target, Ws, OTHER_KINDS};
use crate::stats::{
    now_ns, Counters, DeliveryLedger, LatencyHistogram, LatencyRecorder, ProcWatch,
};

/// Settings every run shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub target: Target,
    pub ips: Vec<Ipv4Addr>,
    pub server_pid: Option<String>,
    /// The other nodes of a cluster: their CPU and RSS are reported beside the server's.
    pub node_pids: Vec<String>,
    pub connect_concurrency: usize,
    pub http_concurrency: usize,
    /// Prefix of this run's guest names and room names, unique per run.
    pub run_id: String,
}

/// State shared by every connection of one run.
struct Shared {
    counters: Counters,
    e2e: LatencyHistogram,
    ack: LatencyHistogram,
    /// How late the tool wrote each rated send after its intended time: the tool's own lag,
    /// which the end-to-end and ack latencies include.
    send_lag: LatencyHistogram,
    /// Messages stamped before this time are counted but not timed (warm-up).
    measure_from_ns: AtomicU64,
    room_acked: Vec<AtomicU64>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    fn new(rooms: usize) -> Arc<Self> {
        Arc::new(Shared {
            counters: Counters::default(),
            e2e: LatencyHistogram::new(),
            ack: LatencyHistogram::new(),
            send_lag: LatencyHistogram::new(),
            measure_from_ns: AtomicU64::new(0),
            room_acked: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
            errors: Mutex::new(BTreeMap::new()),
        })
    }

    fn count_error(&self, code: &str) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(code.to_string())
            .or_default() += 1;
        if code == "rate_limited" {
            Counters::add(&self.counters.rate_limited, 1);
        }
    }

    fn timed(&self, sent_ns: u64) -> bool {
        sent_ns >= self.measure_from_ns.load(Ordering::Relaxed)
    }
}

/// Guest tokens for `count` new users named `<run_id>u<i>`; `None` where sign-in failed.
pub(crate) async fn guest_tokens(
    common: &Common,
    rest: &Rest,
    role: &str,
    count: usize,
) -> (Vec<Option<String>>, Vec<String>) {
    let results: Vec<_> = stream::iter(0..count)
        .map(|i| async move {
            let name = format!("{}{role}{i}", common.run_id);
            rest.guest_token(i, &name).await
        })
        .buffered(common.http_concurrency)
        .collect()
        .await;
    let mut failures = Vec::new();
    let tokens = results
        .into_iter()
        .map(|result| result.map_err(|err| failures.push(format!("{err:#}"))).ok())
        .collect();
    (tokens, failures)
}

/// One connection attempt: connect, `hello`, and subscribe when a room is given.
pub(crate) async fn open(
    common: &Common,
    target: &Target,
    i: usize,
    token: Option<&String>,
    room_id: Option<&str>,
) -> anyhow::Result<(Ws, u64)> {
    let token = token.context("no token (guest sign-in failed)")?;
    let source = common.ips[i % common.ips.len()];
    let attempt = async {
        let mut ws = net::connect(target, source, token).await?;
        let last_seq = match room_id {
            Some(room_id) => net::subscribe(&mut ws, room_id).await?,
            None => 0,
        };
        // The hot loops read the raw socket (`net::classify`), not the client's JSON frames.
        anyhow::Ok((ws.into_inner(), last_seq))
    };
    tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .context("connect and subscribe took over 30 s")?
}

/// The connection phase's account.
#[derive(Default)]
pub(crate) struct Opened {
    attempted: usize,
    failed: usize,
    failure_samples: Vec<String>,
    secs: f64,
    /// When the `mark`-th connection had completed, in seconds from the first attempt.
    mark_secs: Option<f64>,
}

impl Opened {
    pub(crate) fn fail(&mut self, err: &anyhow::Error) {
        self.failed += 1;
        if self.failure_samples.len() < 5 {
            self.failure_samples.push(format!("{err:#}"));
        }
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "attempted": self.attempted,
            "opened": self.attempted - self.failed,
            "failed": self.failed,
            "failure_samples": self.failure_samples,
            "connect_secs": round3(self.secs),
        })
    }
}

/// Opens `tokens.len()` sockets, `connect_concurrency` at a time; socket `i` subscribes to
/// `room_of(i)`. Each socket is handed to `on_open` (with its `subscribed.last_seq`) as soon as
/// it is ready, so that whatever the server sends meanwhile (presence) is read at once and no
/// early socket is closed as a slow consumer before the run starts.
pub(crate) async fn open_many(
    common: &Common,
    targets: &[Target],
    tokens: &[Option<String>],
    room_of: impl Fn(usize) -> Option<String>,
    mark: usize,
    opened: &mut Opened,
    mut on_open: impl FnMut(usize, Ws, u64),
) {
    let started = Instant::now();
    let mut attempts = stream::iter(0..tokens.len())
        .map(|i| {
            let room = room_of(i);
            async move {
                (
                    i,
                    open(
                        common,
                        &targets[i % targets.len()],
                        i,
                        tokens[i].as_ref(),
                        room.as_deref(),
                    )
                    .await,
                )
            }
        })
        .buffer_unordered(common.connect_concurrency);
    let mut done = 0;
    while let Some((i, result)) = attempts.next().await {
        opened.attempted += 1;
        match result {
            Ok((ws, last_seq)) => {
                on_open(i, ws, last_seq);
                done += 1;
                if done == mark {
                    opened.mark_secs = Some(started.elapsed().as_secs_f64());
                }
            }
            Err(err) => opened.fail(&err),
        }
    }
    opened.secs = started.elapsed().as_secs_f64();
}

/// Makes every user with a token a member of `room_of(i)` over REST, before any socket opens.
/// Returns the failures.
pub(crate) async fn join_all(
    common: &Common,
    rest: &Rest,
    tokens: &[Option<String>],
    room_of: impl Fn(usize) -> String,
) -> Vec<String> {
    let results: Vec<_> = stream::iter(0..tokens.len())
        .filter_map(|i| {
            let room = room_of(i);
            async move { tokens[i].as_ref().map(|token| (i, token, room)) }
        })
        .map(|(i, token, room)| async move { rest.join(i, token, &room).await })
        .buffer_unordered(common.http_concurrency)
        .collect()
        .await;
    results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect()
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Who creates the rooms: the signed-in guests in turn, so that nobody owns more rooms than
/// the server's per-user cap allows (10 by default) unless there are too few guests.
pub(crate) fn room_owners<'a>(
    tokens: impl Iterator<Item = &'a Option<String>>,
) -> anyhow::Result<Vec<String>> {
    let owners: Vec<String> = tokens.flatten().take(1_000).cloned().collect();
    if owners.is_empty() {
        bail!("no guest sign-in succeeded");
    }
    Ok(owners)
}

/// A broadcast run: `rooms` × `subscribers` subscribers, `publishers` per room each sending
/// `rate` messages a second for `duration` seconds.
#[derive(Debug, Clone)]
pub struct Broadcast {
    pub rooms: usize,
    pub subscribers: usize,
    pub publishers: usize,
    pub rate: f64,
    pub duration: f64,
    pub warmup: f64,
    pub drain: f64,
    pub body_bytes: usize,
    /// Where publishers connect, when not `common.target` (the cluster preset).
    pub publish_target: Option<Target>,
    /// Where subscribers connect, round robin, when not only `common.target` (the cluster
    /// preset spreads them over the nodes).
    pub subscriber_targets: Vec<Target>,
}

pub async fn broadcast(common: &Common, plan: &Broadcast) -> anyhow::Result<Value> {
    if plan.rate <= 0.0 || plan.duration <= 0.0 {
        bail!("--rate and --duration must be positive");
    }
    let per_publisher = (plan.rate * plan.duration).ceil() as usize;
    if per_publisher > 10_000_000 {
        bail!("rate × duration is over 10 million messages per publisher: too long a run");
    }
    let rest = Rest::new(&common.target, &common.ips)?;
    let n_subs = plan.rooms * plan.subscribers;
    let n_pubs = plan.rooms * plan.publishers;
    let setup_started = Instant::now();
    let (sub_tokens, mut token_failures) = guest_tokens(common, &rest, "s", n_subs).await;
    let (pub_tokens, pub_failures) = guest_tokens(common, &rest, "p", n_pubs).await;
    token_failures.extend(pub_failures);
    let owners = room_owners(pub_tokens.iter().chain(&sub_tokens))?;
    let mut room_ids = Vec::with_capacity(plan.rooms);
    for k in 0..plan.rooms {
        room_ids.push(
            rest.create_room(&owners[k % owners.len()], &format!("{}-{k}", common.run_id))
                .await?,
        );
    }
    token_failures.extend(
        join_all(common, &rest, &sub_tokens, |i| {
            room_ids[i / plan.subscribers].clone()
        })
        .await,
    );
    token_failures.extend(
        join_all(common, &rest, &pub_tokens, |g| {
            room_ids[g / plan.publishers].clone()
        })
        .await,
    );
    let tokens_secs = setup_started.elapsed().as_secs_f64();

    let shared = Shared::new(plan.rooms);
    let mut opened = Opened::default();
    let mut subs_per_room = vec![0u64; plan.rooms];
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sub_tasks = Vec::new();
    let sub_targets = if plan.subscriber_targets.is_empty() {
        std::slice::from_ref(&common.target)
    } else {
        plan.subscriber_targets.as_slice()
    };
    open_many(
        common,
        sub_targets,
        &sub_tokens,
        |i| Some(room_ids[i / plan.subscribers].clone()),
        0,
        &mut opened,
        |i, ws, last_seq| {
            let room = i / plan.subscribers;
            subs_per_room[room] += 1;
            let reader = SubscriberReader {
                shared: shared.clone(),
                first_publisher: room * plan.publishers,
                publishers: plan.publishers,
                per_publisher,
                last_seq,
                shard: i,
            };
            sub_tasks.push(tokio::spawn(reader.run(ws, stop_rx.clone())));
        },
    )
    .await;

    let publish_target = plan.publish_target.as_ref().unwrap_or(&common.target);
    let mut publishers: Vec<Option<Ws>> = (0..n_pubs).map(|_| None).collect();
    open_many(
        common,
        std::slice::from_ref(publish_target),
        &pub_tokens,
        |_| None,
        0,
        &mut opened,
        |g, ws, _| publishers[g] = Some(ws),
    )
    .await;

    let server = common.server_pid.as_deref().and_then(ProcWatch::start);
    let nodes: Vec<ProcWatch> = common
        .node_pids
        .iter()
        .filter_map(|pid| ProcWatch::start(pid))
        .collect();
    let bench = ProcWatch::start("self");
    // Publishers start together a moment from now; each is offset within one send interval so
    // that their sends interleave instead of arriving in bursts.
    let start = Instant::now() + Duration::from_millis(200);
    let start_ns = now_ns() + 200_000_000;
    shared
        .measure_from_ns
        .store(start_ns + (plan.warmup * 1e9) as u64, Ordering::Relaxed);
    let deadline = start + Duration::from_secs_f64(plan.duration + plan.drain);
    let mut pub_tasks = Vec::new();
    for (g, socket) in publishers.into_iter().enumerate() {
        let Some(ws) = socket else { continue };
        let offset = g as f64 / n_pubs as f64 / plan.rate;
        let publisher = Publisher {
            shared: shared.clone(),
            global_index: g,
            room: g / plan.publishers,
            room_id: room_ids[g / plan.publishers].clone(),
            rate: plan.rate,
            count: per_publisher,
            start: start + Duration::from_secs_f64(offset),
            start_ns: start_ns + (offset * 1e9) as u64,
            deadline,
            body_bytes: plan.body_bytes,
        };
        pub_tasks.push(tokio::spawn(publisher.run(ws)));
    }
    for task in pub_tasks {
        let _ = task.await;
    }
    let publish_done = Instant::now();

    let expected: u64 = (0..plan.rooms)
        .map(|k| shared.room_acked[k].load(Ordering::Relaxed) * subs_per_room[k])
        .sum();
    while Counters::get(&shared.counters.unique) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    for task in sub_tasks {
        let _ = task.await;
    }

    let c = &shared.counters;
    let received = Counters::get(&c.received);
    let unique = Counters::get(&c.unique);
    let first_send = Counters::get(&c.first_send_ns);
    let last_delivery = Counters::get(&c.last_delivery_ns);
    let delivery_secs = last_delivery.saturating_sub(first_send) as f64 / 1e9;
    let sent = Counters::get(&c.sent);
    let acked = Counters::get(&c.acked);
    Ok(json!({
        "params": {
            "rooms": plan.rooms, "subscribers_per_room": plan.subscribers,
            "publishers_per_room": plan.publishers, "rate_per_publisher": plan.rate,
            "offered_msgs_per_sec": plan.rate * n_pubs as f64,
            "duration_secs": plan.duration, "warmup_secs": plan.warmup,
            "drain_secs": plan.drain, "body_bytes": plan.body_bytes,
            "publish_url": publish_target.base,
        },
        "setup": { "guest_sign_ins": n_subs + n_pubs, "sign_in_or_join_failures": token_failures.len(),
                   "sign_in_failure_samples": token_failures.iter().take(5).collect::<Vec<_>>(),
                   "sign_in_and_rooms_secs": round3(tokens_secs) },
        "connections": opened.json(),
        "closed_by_server": { "slow_consumer_4008": Counters::get(&c.closed_slow_consumer),
                              "other": Counters::get(&c.closed_other),
                              "read_errors": Counters::get(&c.read_errors) },
        "messages": {
            "sent": sent, "acked": acked, "errors": Counters::get(&c.send_errors),
            "rate_limited": Counters::get(&c.rate_limited),
            "error_codes": *shared.errors.lock().unwrap(),
            "unanswered": sent.saturating_sub(acked + Counters::get(&c.send_errors)),
            "acked_per_sec": round3(acked as f64 / plan.duration),
            "ack_latency": shared.ack.summary(),
            "send_lag": shared.send_lag.summary(),
        },
        "deliveries": {
            "expected": expected, "received": received, "unique": unique,
            "lost": expected.saturating_sub(unique),
            "loss_ratio": if expected > 0 { (expected.saturating_sub(unique)) as f64 / expected as f64 } else { 0.0 },
            "duplicates": Counters::get(&c.duplicates),
            "foreign": Counters::get(&c.foreign),
            "seq_gaps": Counters::get(&c.seq_gaps),
            "seq_regressions": Counters::get(&c.seq_regressions),
            "other_events": Counters::get(&c.other_events),
            "other_frames": Counters::get(&c.other_frames),
            "other_frames_by_type": other_frames_by_type(&c.other_kinds),
            "per_sec": if delivery_secs > 0.0 { (unique as f64 / delivery_secs).round() } else { 0.0 },
            "e2e_latency": shared.e2e.summary(),
        },
        "publish_secs": round3(publish_done.saturating_duration_since(start).as_secs_f64()),
        "server": server.map(ProcWatch::finish),
        "nodes": nodes.into_iter().map(ProcWatch::finish).collect::<Vec<_>>(),
        "bench": bench.map(ProcWatch::finish),
    }))
}

/// Reads one subscriber's socket until told to stop: counts, times and checks every event.
struct SubscriberReader {
    shared: Arc<Shared>,
    first_publisher: usize,
    publishers: usize,
    per_publisher: usize,
    last_seq: u64,
    shard: usize,
}

impl SubscriberReader {
    async fn run(self, ws: Ws, mut stop: watch::Receiver<bool>) {
        let shared = &*self.shared;
        let c = &shared.counters;
        let mut ledger = DeliveryLedger::new(self.publishers, self.per_publisher);
        let mut latency = LatencyRecorder::new(&shared.e2e, self.shard);
        let mut last_seq = self.last_seq;
        let (mut received, mut last_delivery) = (0u64, 0u64);
        let mut published = (0u64, 0u64, 0u64);
        let mut published_at = 0u64;
        let (mut sink, mut stream) = ws.split();
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = stop.changed() => break,
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    if code == Some(4008) {
                        Counters::add(&c.closed_slow_consumer, 1);
                    } else {
                        Counters::add(&c.closed_other, 1);
                    }
                    break;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    Counters::add(&c.read_errors, 1);
                    break;
                }
            };
            match classify(&text) {
                Frame::Event { seq, mark } => {
                    if let Some(seq) = seq {
                        if seq <= last_seq {
                            Counters::add(&c.seq_regressions, 1);
                        } else if seq != last_seq + 1 {
                            Counters::add(&c.seq_gaps, 1);
                        }
                        last_seq = last_seq.max(seq);
                    }
                    let Some(mark) = mark else {
                        Counters::add(&c.other_events, 1);
                        continue;
                    };
                    let now = now_ns();
                    received += 1;
                    last_delivery = now;
                    match mark.publisher.checked_sub(self.first_publisher) {
                        Some(local) if local < self.publishers => ledger.mark(local, mark.number),
                        _ => ledger.foreign += 1,
                    }
                    if shared.timed(mark.sent_ns) {
                        latency.record_since(mark.sent_ns, now);
                    }
                    // Totals go to the shared counters in batches (every 256 deliveries or
                    // 5 ms) so that subscribers on different threads don't fight over them.
                    if received - published.0 >= 256 || now - published_at >= 5_000_000 {
                        published = publish(c, received, &ledger, last_delivery, published);
                        published_at = now;
                    }
                }
                Frame::Error { code } => {
                    Counters::add(&c.server_errors, 1);
                    shared.count_error(&code);
                }
                Frame::Ack { .. } => Counters::add(&c.other_frames, 1),
                Frame::Other { kind } => {
                    Counters::add(&c.other_frames, 1);
                    Counters::add(&c.other_kinds[kind], 1);
                }
            }
        }
        publish(c, received, &ledger, last_delivery, published);
        Counters::add(&c.foreign, ledger.foreign);
        let _ = sink.close().await;
    }
}

/// Adds what a subscriber counted since its last report (`before`: received, unique,
/// duplicates) to the shared totals, and returns the new report point.
fn publish(
    c: &Counters,
    received: u64,
    ledger: &DeliveryLedger,
    last_delivery: u64,
    before: (u64, u64, u64),
) -> (u64, u64, u64) {
    Counters::add(&c.received, received - before.0);
    Counters::add(&c.unique, ledger.unique - before.1);
    Counters::add(&c.duplicates, ledger.duplicates - before.2);
    c.last_delivery_ns
        .fetch_max(last_delivery, Ordering::Relaxed);
    (received, ledger.unique, ledger.duplicates)
}

/// One rated publisher: sends `count` messages at `rate` a second and reads their acks.
struct Publisher {
    shared: Arc<Shared>,
    global_index: usize,
    room: usize,
    room_id: String,
    rate: f64,
    count: usize,
    start: Instant,
    start_ns: u64,
    deadline: Instant,
    body_bytes: usize,
}

impl Publisher {
    async fn run(self, ws: Ws) {
        let shared = &*self.shared;
        let c = &shared.counters;
        let (mut sink, mut stream) = ws.split();
        let mut acks = LatencyRecorder::new(&shared.ack, self.global_index);
        let mut lag = LatencyRecorder::new(&shared.send_lag, self.global_index);
        // One timer tick per send interval, but no more than 1,000 ticks a second: at higher
        // rates each tick sends every message that has come due.
        let period = Duration::from_secs_f64((1.0 / self.rate).clamp(0.001, 0.1));
        let mut tick = tokio::time::interval_at(self.start.into(), period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut sent, mut answered) = (0usize, 0usize);
        let deadline = tokio::time::sleep_until(self.deadline.into());
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = tick.tick(), if sent < self.count => {
                    let elapsed = self.start.elapsed().as_secs_f64();
                    let due = ((elapsed * self.rate) as usize + 1).min(self.count);
                    if sent == 0 {
                        c.note_first_send();
                    }
                    let before = sent;
                    while sent < due {
                        // The intended send time, not the actual one: a publisher that falls
                        // behind shows up as latency instead of hiding it.
                        let intended = self.start_ns + (sent as f64 / self.rate * 1e9) as u64;
                        let frame = net::send_frame(&self.room_id, self.global_index, sent, intended, self.body_bytes);
                        if shared.timed(intended) {
                            lag.record_since(intended, now_ns());
                        }
                        if sink.feed(Message::text(frame)).await.is_err() {
                            return;
                        }
                        sent += 1;
                    }
                    Counters::add(&c.sent, (sent - before) as u64);
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                message = stream.next() => {
                    match read_answer(shared, message, &mut acks, self.room) {
                        Answer::Answered => answered += 1,
                        Answer::Nothing => {}
                        Answer::Closed => return,
                    }
                    if sent == self.count && answered >= self.count {
                        break;
                    }
                }
                _ = &mut deadline => break,
            }
        }
        let _ = sink.close().await;
    }
}

enum Answer {
    Answered,
    Nothing,
    Closed,
}

/// Reads what a sender's socket brought: an ack (timed), an error (counted by code), or
/// anything else.
fn read_answer(
    shared: &Shared,
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    acks: &mut LatencyRecorder<'_>,
    room: usize,
) -> Answer {
    let c = &shared.counters;
    let text = match message {
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(Message::Close(frame))) => {
            if frame.map(|f| u16::from(f.code)) == Some(4008) {
                Counters::add(&c.closed_slow_consumer, 1);
            } else {
                Counters::add(&c.closed_other, 1);
            }
            return Answer::Closed;
        }
        Some(Ok(_)) => return Answer::Nothing,
        Some(Err(_)) | None => {
            Counters::add(&c.read_errors, 1);
            return Answer::Closed;
        }
    };
    match classify(&text) {
        Frame::Ack { mark } => {
            let now = now_ns();
            Counters::add(&c.acked, 1);
            shared.room_acked[room].fetch_add(1, Ordering::Relaxed);
            c.last_ack_ns.fetch_max(now, Ordering::Relaxed);
            if let Some(mark) = mark {
                if shared.timed(mark.sent_ns) {
                    acks.record_since(mark.sent_ns, now);
                }
            }
            Answer::Answered
        }
        Frame::Error { code } => {
            Counters::add(&c.send_errors, 1);
            shared.count_error(&code);
            Answer::Answered
        }
        Frame::Other { kind } => {
            Counters::add(&c.other_frames, 1);
            Counters::add(&c.other_kinds[kind], 1);
            Answer::Nothing
        }
        Frame::Event { .. } => {
            Counters::add(&c.other_frames, 1);
            Answer::Nothing
        }
    }
}

/// An idle run: `connections` signed-in sockets, each subscribed to one of `rooms`, held open.
#[derive(Debug, Clone)]
pub struct Idle {
    pub connections: usize,
    pub rooms: usize,
    pub hold: f64,
    pub mark: usize,
}

pub async fn idle(common: &Common, plan: &Idle) -> anyhow::Result<Value> {
    let rest = Rest::new(&common.target, &common.ips)?;
    let tokens_started = Instant::now();
    let (tokens, token_failures) = guest_tokens(common, &rest, "i", plan.connections).await;
    let owners = room_owners(tokens.iter())?;
    let mut room_ids = Vec::new();
    for k in 0..plan.rooms.max(1) {
        room_ids.push(
            rest.create_room(&owners[k % owners.len()], &format!("{}-{k}", common.run_id))
                .await?,
        );
    }
    let tokens_secs = tokens_started.elapsed().as_secs_f64();
    let join_started = Instant::now();
    let join_failures = join_all(common, &rest, &tokens, |i| {
        room_ids[i % room_ids.len()].clone()
    })
    .await;
    let join_secs = join_started.elapsed().as_secs_f64();
    // Let the server settle after the sign-ins before taking its baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = common.server_pid.as_deref().and_then(ProcWatch::start);
    let nodes: Vec<ProcWatch> = common
        .node_pids
        .iter()
        .filter_map(|pid| ProcWatch::start(pid))
        .collect();
    let bench = ProcWatch::start("self");
    let server_before = server.as_ref().and_then(ProcWatch::current);

    let mut opened = Opened::default();
    // Every socket is held open, reading (so that pings are answered) and counting what arrives.
    let shared = Shared::new(room_ids.len());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut holders = Vec::new();
    open_many(
        common,
        std::slice::from_ref(&common.target),
        &tokens,
        |i| Some(room_ids[i % room_ids.len()].clone()),
        plan.mark,
        &mut opened,
        |_, ws, _| holders.push(tokio::spawn(hold(shared.clone(), ws, stop_rx.clone()))),
    )
    .await;
    let connected = holders.len();
    tokio::time::sleep(Duration::from_secs_f64(plan.hold)).await;
    let server_after = server.as_ref().and_then(ProcWatch::current);
    let _ = stop_tx.send(true);
    for holder in holders {
        let _ = holder.await;
    }
    let per_connection = match (server_before, server_after) {
        (Some(before), Some(after)) if connected > 0 => Some(round3(
            after.rss_kib.saturating_sub(before.rss_kib) as f64 / connected as f64,
        )),
        _ => None,
    };
    let c = &shared.counters;
    Ok(json!({
        "params": { "connections": plan.connections, "rooms": room_ids.len(),
                    "hold_secs": plan.hold, "mark": plan.mark,
                    "connect_concurrency": common.connect_concurrency },
        "setup": { "guest_sign_ins": plan.connections, "sign_in_failures": token_failures.len(),
                   "sign_in_failure_samples": token_failures.iter().take(5).collect::<Vec<_>>(),
                   "sign_in_and_rooms_secs": round3(tokens_secs),
                   "join_failures": join_failures.len(),
                   "join_failure_samples": join_failures.iter().take(5).collect::<Vec<_>>(),
                   "join_secs": round3(join_secs) },
        "connections": opened.json(),
        "connect_mark": { "connections": plan.mark, "secs": opened.mark_secs.map(round3) },
        "closed_by_server": { "slow_consumer_4008": Counters::get(&c.closed_slow_consumer),
                              "other": Counters::get(&c.closed_other),
                              "read_errors": Counters::get(&c.read_errors) },
        "frames_while_idle": Counters::get(&c.other_frames),
        "server_rss_before_kib": server_before.map(|s| s.rss_kib),
        "server_rss_after_kib": server_after.map(|s| s.rss_kib),
        "server_rss_per_connection_kib": per_connection,
        "server": server.map(ProcWatch::finish),
        "nodes": nodes.into_iter().map(ProcWatch::finish).collect::<Vec<_>>(),
        "bench": bench.map(ProcWatch::finish),
    }))
}

async fn hold(shared: Arc<Shared>, ws: Ws, mut stop: watch::Receiver<bool>) {
    let c = &shared.counters;
    let (mut sink, mut stream): (_, SplitStream<Ws>) = ws.split();
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Close(_))) => { Counters::add(&c.closed_other, 1); return; }
                Some(Ok(Message::Text(_))) => Counters::add(&c.other_frames, 1),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { Counters::add(&c.read_errors, 1); return; }
            },
            _ = stop.changed() => break,
        }
    }
    let _ = sink.close().await;
}

/// A persisted-sends run: `senders` sockets, each keeping `window` sends in flight (the next goes
/// when an ack comes back) for `duration` seconds.
#[derive(Debug, Clone)]
pub struct Persisted {
    pub senders: usize,
    pub rooms: usize,
    pub window: usize,
    pub duration: f64,
    pub warmup: f64,
    pub drain: f64,
    pub body_bytes: usize,
}

pub async fn persisted(common: &Common, plan: &Persisted) -> anyhow::Result<Value> {
    let rest = Rest::new(&common.target, &common.ips)?;
    let (tokens, token_failures) = guest_tokens(common, &rest, "w", plan.senders).await;
    let owners = room_owners(tokens.iter())?;
    let mut room_ids = Vec::new();
    for k in 0..plan.rooms.max(1) {
        room_ids.push(
            rest.create_room(&owners[k % owners.len()], &format!("{}-{k}", common.run_id))
                .await?,
        );
    }
    let mut opened = Opened::default();
    let mut sockets: Vec<Option<Ws>> = (0..tokens.len()).map(|_| None).collect();
    open_many(
        common,
        std::slice::from_ref(&common.target),
        &tokens,
        |_| None,
        0,
        &mut opened,
        |i, ws, _| sockets[i] = Some(ws),
    )
    .await;
    let shared = Shared::new(room_ids.len());
    let server = common.server_pid.as_deref().and_then(ProcWatch::start);
    let nodes: Vec<ProcWatch> = common
        .node_pids
        .iter()
        .filter_map(|pid| ProcWatch::start(pid))
        .collect();
    let bench = ProcWatch::start("self");
    let start = Instant::now();
    shared
        .measure_from_ns
        .store(now_ns() + (plan.warmup * 1e9) as u64, Ordering::Relaxed);
    let end = start + Duration::from_secs_f64(plan.duration);
    let deadline = end + Duration::from_secs_f64(plan.drain);
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .filter_map(|(i, socket)| socket.map(|ws| (i, ws)))
        .map(|(i, ws)| {
            let sender = Sender {
                shared: shared.clone(),
                index: i,
                room: i % room_ids.len(),
                room_id: room_ids[i % room_ids.len()].clone(),
                window: plan.window.max(1),
                end,
                deadline,
                body_bytes: plan.body_bytes,
            };
            tokio::spawn(sender.run(ws))
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let c = &shared.counters;
    let acked = Counters::get(&c.acked);
    let sent = Counters::get(&c.sent);
    let ack_secs =
        Counters::get(&c.last_ack_ns).saturating_sub(Counters::get(&c.first_send_ns)) as f64 / 1e9;
    Ok(json!({
        "params": { "senders": plan.senders, "rooms": room_ids.len(), "window": plan.window,
                    "duration_secs": plan.duration, "warmup_secs": plan.warmup,
                    "body_bytes": plan.body_bytes },
        "setup": { "sign_in_failures": token_failures.len(),
                   "sign_in_failure_samples": token_failures.iter().take(5).collect::<Vec<_>>() },
        "connections": opened.json(),
        "closed_by_server": { "slow_consumer_4008": Counters::get(&c.closed_slow_consumer),
                              "other": Counters::get(&c.closed_other),
                              "read_errors": Counters::get(&c.read_errors) },
        "messages": {
            "sent": sent, "acked": acked, "errors": Counters::get(&c.send_errors),
            "rate_limited": Counters::get(&c.rate_limited),
            "error_codes": *shared.errors.lock().unwrap(),
            "unanswered": sent.saturating_sub(acked + Counters::get(&c.send_errors)),
            "acked_per_sec": if ack_secs > 0.0 { (acked as f64 / ack_secs).round() } else { 0.0 },
            "ack_latency": shared.ack.summary(),
        },
        "server": server.map(ProcWatch::finish),
        "nodes": nodes.into_iter().map(ProcWatch::finish).collect::<Vec<_>>(),
        "bench": bench.map(ProcWatch::finish),
    }))
}

/// One closed-loop sender of the persisted-sends run.
struct Sender {
    shared: Arc<Shared>,
    index: usize,
    room: usize,
    room_id: String,
    window: usize,
    end: Instant,
    deadline: Instant,
    body_bytes: usize,
}

impl Sender {
    async fn run(self, ws: Ws) {
        let shared = &*self.shared;
        let c = &shared.counters;
        let (mut sink, mut stream) = ws.split();
        let mut acks = LatencyRecorder::new(&shared.ack, self.index);
        let (mut sent, mut answered) = (0usize, 0usize);
        let send = |n: usize| {
            Message::text(net::send_frame(
                &self.room_id,
                self.index,
                n,
                now_ns(),
                self.body_bytes,
            ))
        };
        c.note_first_send();
        for _ in 0..self.window {
            if sink.feed(send(sent)).await.is_err() {
                return;
            }
            sent += 1;
        }
        Counters::add(&c.sent, sent as u64);
        if sink.flush().await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep_until(self.deadline.into());
        tokio::pin!(deadline);
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = &mut deadline => break,
            };
            match read_answer(shared, message, &mut acks, self.room) {
                Answer::Answered => answered += 1,
                Answer::Nothing => continue,
                Answer::Closed => return,
            }
            if Instant::now() < self.end {
                if sink.send(send(sent)).await.is_err() {
                    return;
                }
                sent += 1;
                Counters::add(&c.sent, 1);
            } else if answered >= sent {
                break;
            }
        }
        let _ = sink.close().await;
    }
}

/// Counts of the frames that were neither events, acks nor errors, by type: `kinds` counted
/// by [`OTHER_KINDS`], then unknown types.
pub fn other_frames_by_type(kinds: &[AtomicU64]) -> Value {
    let mut by_type = serde_json::Map::new();
    let names = OTHER_KINDS.iter().copied().chain(["other"]);
    for (name, count) in names.zip(kinds) {
        let count = Counters::get(count);
        if count > 0 {
            by_type.insert(name.to_string(), count.into());
        }
    }
    Value::Object(by_type)
}
