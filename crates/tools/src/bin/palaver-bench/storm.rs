//! The reconnect storm (issue #14): `connections` signed-in sockets subscribed to rooms on node A,
//! one sender per room on the other nodes sending at a steady rate; then node A is killed
//! (SIGKILL) and every client reconnects to one of the other nodes with the web client's policy
//! ([`crate::reconnect`]), resumes each room from its last `seq`, and catches up.
//!
//! Measured: the time from the kill until every client is caught up (its resubscribe answered
//! with `subscribed`, the replay of what it missed before it), every acked message delivered
//! exactly once to every subscriber of its room (lost and doubled counted per subscriber against
//! the senders' acks), and the ack latency of the senders' sends while the storm lasts.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, classify, Frame, Rest, Target, Ws, OTHER_KINDS};
use crate::reconnect::{self, FAILURES_BEFORE_POLLING, HELLO_TIMEOUT_MS, SLOW_CONSUMER_CLOSE};
use crate::run::{self, guest_tokens, join_all, open_many, room_owners, round3, Common, Opened};
use crate::stats::{now_ns, DeliveryLedger, LatencyHistogram, LatencyRecorder, ProcWatch};

/// A storm run's plan.
#[derive(Debug, Clone)]
pub struct Storm {
    pub connections: usize,
    pub rooms: usize,
    /// Messages a second into each room (one sender per room).
    pub rate: f64,
    /// Seconds of sending before the kill.
    pub before: f64,
    /// Seconds of sending after every client has caught up.
    pub tail: f64,
    /// Longest the storm may last: past it the stragglers are reported as not caught up.
    pub storm_limit: f64,
    /// Seconds to wait for acks and deliveries after the senders stop.
    pub drain: f64,
    pub body_bytes: usize,
    /// Where the clients reconnect to and the senders send (nodes B, C, …).
    pub others: Vec<Target>,
    /// Node A's process, killed with SIGKILL.
    pub kill_pid: i32,
    /// Processes (the other nodes) whose CPU and RSS are reported.
    pub watch_pids: Vec<u32>,
}

/// What every task of the run shares.
struct Shared {
    /// When node A was killed (the [`now_ns`] clock); 0 before.
    kill_ns: AtomicU64,
    /// Subscribers caught up after the kill (each counted once).
    caught_up: AtomicU64,
    /// Unique bench messages delivered, all subscribers together.
    unique: AtomicU64,
    /// The latest moment a subscriber caught up.
    last_caught_up_ns: AtomicU64,
}

/// One subscriber's account, returned when it stops.
#[derive(Default)]
struct SubReport {
    room: usize,
    ledger: Option<DeliveryLedger>,
    /// The socket to node A ended before the kill.
    early_loss: bool,
    lost_ns: Option<u64>,
    /// The first `subscribed` after the kill.
    caught_up_ns: Option<u64>,
    /// Connection attempts after the kill; the failed ones by reason.
    attempts: u32,
    failed_timeout: u32,
    failed_error: u32,
    failure_sample: Option<String>,
    /// Failed twice in a row without `hello`: the web client would have tried long polling.
    would_poll: bool,
    /// Sockets lost after the first reconnect (slow consumer or otherwise).
    later_losses: u32,
    replayed: u64,
    resyncs: u64,
    errors: u64,
    /// Resubscribes refused as `unavailable` and asked again.
    subscribe_retries: u64,
    seq_gaps: u64,
    seq_regressions: u64,
    received: u64,
}

/// One sender's account: every acked message as (number, intended send time, ack time).
#[derive(Default)]
struct SendReport {
    room: usize,
    sent: usize,
    /// When each message (by number) was written, against its intended time: the tool's lag.
    written: Vec<u64>,
    acked: Vec<(usize, u64, u64)>,
    errors: u64,
    lost_socket: bool,
}

const SUBSCRIBED: usize = 1;
const RESYNC: usize = 7;

pub async fn storm(common: &Common, plan: &Storm) -> anyhow::Result<Value> {
    debug_assert_eq!(OTHER_KINDS[SUBSCRIBED], "subscribed");
    debug_assert_eq!(OTHER_KINDS[RESYNC], "resync");
    if plan.rate <= 0.0 || plan.rooms == 0 || plan.connections == 0 || plan.others.is_empty() {
        bail!("--rate, --rooms, --connections must be positive and --reconnect-url given");
    }
    // Every message number a sender may use, with room to spare: the size of each ledger.
    let per_room = (plan.rate * (plan.before + plan.storm_limit + plan.tail + 1.0)).ceil() as usize;
    let rest = Rest::new(&common.target, &common.ips)?;
    let setup_started = Instant::now();
    let (sub_tokens, mut failures) = guest_tokens(common, &rest, "s", plan.connections).await;
    let (send_tokens, send_failures) = guest_tokens(common, &rest, "p", plan.rooms).await;
    failures.extend(send_failures);
    let owners = room_owners(send_tokens.iter().chain(&sub_tokens))?;
    let mut room_ids = Vec::with_capacity(plan.rooms);
    for k in 0..plan.rooms {
        let name = format!("{}-{k}", common.run_id);
        room_ids.push(rest.create_room(&owners[k % owners.len()], &name).await?);
    }
    let room_of = |i: usize| i % plan.rooms;
    failures.extend(join_all(common, &rest, &sub_tokens, |i| room_ids[room_of(i)].clone()).await);
    failures.extend(join_all(common, &rest, &send_tokens, |k| room_ids[k].clone()).await);
    let setup_secs = setup_started.elapsed().as_secs_f64();

    let shared = Arc::new(Shared {
        kill_ns: AtomicU64::new(0),
        caught_up: AtomicU64::new(0),
        unique: AtomicU64::new(0),
        last_caught_up_ns: AtomicU64::new(0),
    });
    let others = Arc::new(plan.others.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut opened = Opened::default();
    let mut subs_per_room = vec![0u64; plan.rooms];
    let mut sub_tasks = Vec::with_capacity(plan.connections);
    let connect_started = Instant::now();
    open_many(
        common,
        std::slice::from_ref(&common.target),
        &sub_tokens,
        |i| Some(room_ids[room_of(i)].clone()),
        0,
        &mut opened,
        |i, ws, last_seq| {
            let room = room_of(i);
            subs_per_room[room] += 1;
            let subscriber = Subscriber {
                shared: shared.clone(),
                room,
                room_id: room_ids[room].clone(),
                token: sub_tokens[i].clone().unwrap_or_default(),
                source: common.ips[i % common.ips.len()],
                others: others.clone(),
                per_room,
                last_seq,
            };
            sub_tasks.push(tokio::spawn(subscriber.run(ws, stop_rx.clone())));
        },
    )
    .await;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let subscribers = sub_tasks.len() as u64;
    if subscribers == 0 {
        bail!("no subscriber connected to node A: {:?}", opened.json());
    }

    // One sender per room, on the other nodes in turn. The senders stand for people on other
    // machines: they run on a runtime (a thread) of their own, so that the 16,000 reconnecting
    // clients of this process don't delay their sends and the reading of their acks.
    let sender_runtime = OwnRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("senders")
            .enable_all()
            .build()
            .context("the senders' runtime")?,
    ));
    let sender_runtime = sender_runtime.handle();
    let mut sender_sockets: Vec<Option<Ws>> = (0..plan.rooms).map(|_| None).collect();
    let mut sender_failures = Vec::new();
    let attempts = stream::iter(0..plan.rooms)
        .map(|k| {
            let target = plan.others[k % plan.others.len()].clone();
            let token = send_tokens[k].clone();
            let common = common.clone();
            let opened = sender_runtime
                .spawn(async move { run::open(&common, &target, k, token.as_ref(), None).await });
            async move {
                let result = opened.await.map_err(anyhow::Error::from).and_then(|r| r);
                (k, result)
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for (k, result) in attempts {
        match result {
            Ok((ws, _)) => sender_sockets[k] = Some(ws),
            Err(err) => sender_failures.push(format!("{err:#}")),
        }
    }

    let watched: Vec<ProcWatch> = plan
        .watch_pids
        .iter()
        .filter_map(|pid| ProcWatch::start(&pid.to_string()))
        .collect();
    let bench = ProcWatch::start("self");
    let start = Instant::now() + Duration::from_millis(200);
    let start_ns = now_ns() + 200_000_000;
    let (senders_stop_tx, senders_stop_rx) = watch::channel(false);
    let mut send_tasks = Vec::new();
    for (k, socket) in sender_sockets.into_iter().enumerate() {
        let Some(ws) = socket else { continue };
        // Each sender is offset within one send interval so that sends interleave.
        let offset = k as f64 / plan.rooms as f64 / plan.rate;
        let sender = Sender {
            room: k,
            room_id: room_ids[k].clone(),
            rate: plan.rate,
            count: per_room,
            start: start + Duration::from_secs_f64(offset),
            start_ns: start_ns + (offset * 1e9) as u64,
            drain: Duration::from_secs_f64(plan.drain),
            body_bytes: plan.body_bytes,
        };
        send_tasks.push(sender_runtime.spawn(sender.run(ws, senders_stop_rx.clone())));
    }

    // The kill.
    tokio::time::sleep_until((start + Duration::from_secs_f64(plan.before)).into()).await;
    let kill_ns = now_ns();
    shared.kill_ns.store(kill_ns, Ordering::SeqCst);
    // SAFETY: kill(2) with a pid and a signal number; it touches no memory of this process.
    if unsafe { libc::kill(plan.kill_pid, libc::SIGKILL) } != 0 {
        let err = std::io::Error::last_os_error();
        let _ = stop_tx.send(true);
        let _ = senders_stop_tx.send(true);
        bail!("could not kill node A (pid {}): {err}", plan.kill_pid);
    }
    let killed_at = Instant::now();
    let storm_deadline = killed_at + Duration::from_secs_f64(plan.storm_limit);
    while shared.caught_up.load(Ordering::SeqCst) < subscribers && Instant::now() < storm_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all_caught_up = shared.caught_up.load(Ordering::SeqCst) == subscribers;
    let storm_end_ns = match all_caught_up {
        true => shared.last_caught_up_ns.load(Ordering::SeqCst),
        false => now_ns(),
    };
    tokio::time::sleep(Duration::from_secs_f64(plan.tail)).await;
    let _ = senders_stop_tx.send(true);
    let mut sends = Vec::new();
    for task in send_tasks {
        sends.push(task.await.context("a sender task")?);
    }
    let publish_done = Instant::now();

    // Wait for every acked message to reach every subscriber of its room (or the drain limit).
    let expected: u64 = sends
        .iter()
        .map(|s| s.acked.len() as u64 * subs_per_room[s.room])
        .sum();
    let drain_deadline = publish_done + Duration::from_secs_f64(plan.drain);
    while shared.unique.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut reports = Vec::with_capacity(sub_tasks.len());
    for task in sub_tasks {
        reports.push(task.await.context("a subscriber task")?);
    }

    // Loss and doubling per subscriber, against the acks of its room.
    let mut acked_by_room: Vec<Vec<usize>> = vec![Vec::new(); plan.rooms];
    for send in &sends {
        acked_by_room[send.room] = send.acked.iter().map(|(n, _, _)| *n).collect();
    }
    let (mut lost, mut doubled, mut unacked_delivered, mut subs_with_loss) = (0u64, 0, 0, 0);
    let (mut unique, mut received) = (0u64, 0u64);
    for report in &reports {
        let ledger = report.ledger.as_ref().expect("a ledger");
        let acked = &acked_by_room[report.room];
        let missing = acked.iter().filter(|&&n| !ledger.has(0, n)).count() as u64;
        lost += missing;
        subs_with_loss += u64::from(missing > 0);
        doubled += ledger.duplicates;
        unique += ledger.unique;
        received += report.received;
        unacked_delivered += ledger.unique.saturating_sub(acked.len() as u64 - missing);
    }
    let sum = |f: fn(&SubReport) -> u64| reports.iter().map(f).sum::<u64>();

    // Catch-up times, from the kill.
    let catch_up = LatencyHistogram::new();
    let reconnect_time = LatencyHistogram::new();
    {
        let mut from_kill = LatencyRecorder::new(&catch_up, 0);
        let mut from_loss = LatencyRecorder::new(&reconnect_time, 0);
        for report in &reports {
            if let Some(at) = report.caught_up_ns {
                from_kill.record_since(kill_ns, at);
                if let Some(lost) = report.lost_ns {
                    from_loss.record_since(lost, at);
                }
            }
        }
    }
    let mut attempts_hist = std::collections::BTreeMap::<u32, u64>::new();
    for report in &reports {
        *attempts_hist.entry(report.attempts).or_default() += 1;
    }
    let failure_samples: Vec<&String> = reports
        .iter()
        .filter_map(|r| r.failure_sample.as_ref())
        .take(5)
        .collect();

    // The senders' ack latency (from the intended send time) before and during the storm.
    let ack_hist = |from: u64, to: u64| {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
        for send in &sends {
            for &(_, sent, acked) in &send.acked {
                if sent >= from && sent < to {
                    hist.saturating_record((acked.saturating_sub(sent) / 1_000).max(1));
                }
            }
        }
        summary(&hist)
    };
    // How late the senders wrote their sends (the tool's share of the ack latency), and the
    // time from the write to the ack (the servers' share, and the reading of the ack).
    let sender_hist = |from: u64, to: u64, of: fn(u64, u64, u64) -> u64| {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
        for send in &sends {
            for &(number, sent, acked) in &send.acked {
                let Some(&written) = send.written.get(number) else {
                    continue;
                };
                if sent >= from && sent < to {
                    hist.saturating_record((of(sent, written, acked) / 1_000).max(1));
                }
            }
        }
        summary(&hist)
    };
    let storm_to = storm_end_ns.max(kill_ns + 1);
    let lag = |sent: u64, written: u64, _: u64| written.saturating_sub(sent);
    let write_to_ack = |_: u64, written: u64, acked: u64| acked.saturating_sub(written);
    let sent: usize = sends.iter().map(|s| s.sent).sum();
    let acked: usize = sends.iter().map(|s| s.acked.len()).sum();
    let caught_up_secs =
        all_caught_up.then(|| round3(storm_end_ns.saturating_sub(kill_ns) as f64 / 1e9));
    Ok(json!({
        "params": {
            "connections": plan.connections, "rooms": plan.rooms,
            "rate_per_room": plan.rate, "offered_msgs_per_sec": plan.rate * plan.rooms as f64,
            "before_secs": plan.before, "tail_secs": plan.tail, "storm_limit_secs": plan.storm_limit,
            "body_bytes": plan.body_bytes,
            "reconnect_urls": plan.others.iter().map(|t| t.base.clone()).collect::<Vec<_>>(),
            "policy": { "fast_retries_ms": reconnect::FAST_RETRIES_MS,
                        "first_slow_ceiling_ms": reconnect::FIRST_SLOW_CEILING_MS,
                        "retry_cap_ms": reconnect::RETRY_CAP_MS,
                        "hello_timeout_ms": HELLO_TIMEOUT_MS },
        },
        "setup": { "sign_in_or_join_failures": failures.len(),
                   "failure_samples": failures.iter().take(5).collect::<Vec<_>>(),
                   "sign_in_and_rooms_secs": round3(setup_secs),
                   "connect_to_a_secs": round3(connect_secs),
                   "sender_failures": sender_failures },
        "connections": opened.json(),
        "storm": {
            "subscribers": subscribers,
            "caught_up": shared.caught_up.load(Ordering::SeqCst),
            "all_caught_up": all_caught_up,
            "all_caught_up_secs": caught_up_secs,
            "caught_up_from_kill": catch_up.summary(),
            "reconnect_from_loss": reconnect_time.summary(),
            "lost_before_kill": reports.iter().filter(|r| r.early_loss).count(),
            "attempts": attempts_hist,
            "failed_attempts_hello_timeout": sum(|r| r.failed_timeout.into()),
            "failed_attempts_error": sum(|r| r.failed_error.into()),
            "failure_samples": failure_samples,
            "would_fall_back_to_polling": reports.iter().filter(|r| r.would_poll).count(),
            "later_losses": sum(|r| r.later_losses.into()),
            "replayed_events": sum(|r| r.replayed),
            "resyncs": sum(|r| r.resyncs),
            "errors": sum(|r| r.errors),
            "subscribe_retries": sum(|r| r.subscribe_retries),
        },
        "messages": {
            "sent": sent, "acked": acked,
            "errors": sends.iter().map(|s| s.errors).sum::<u64>(),
            "senders_lost": sends.iter().filter(|s| s.lost_socket).count(),
            "unanswered": sent.saturating_sub(acked + sends.iter().map(|s| s.errors as usize).sum::<usize>()),
            "ack_latency_before_kill": ack_hist(0, kill_ns),
            "ack_latency_during_storm": ack_hist(kill_ns, storm_end_ns.max(kill_ns + 1)),
            "ack_latency_after_storm": ack_hist(storm_end_ns.max(kill_ns + 1), u64::MAX),
            "send_lag_before_kill": sender_hist(0, kill_ns, lag),
            "send_lag_during_storm": sender_hist(kill_ns, storm_to, lag),
            "write_to_ack_before_kill": sender_hist(0, kill_ns, write_to_ack),
            "write_to_ack_during_storm": sender_hist(kill_ns, storm_to, write_to_ack),
        },
        "deliveries": {
            "expected": expected, "received": received, "unique": unique,
            "lost": lost, "subscribers_with_loss": subs_with_loss,
            "doubled": doubled, "unacked_delivered": unacked_delivered,
            "seq_gaps": sum(|r| r.seq_gaps), "seq_regressions": sum(|r| r.seq_regressions),
        },
        "other_nodes": watched.into_iter().map(ProcWatch::finish).collect::<Vec<_>>(),
        "bench": bench.map(ProcWatch::finish),
        "passed": all_caught_up && lost == 0 && doubled == 0,
    }))
}

/// A runtime of this tool's own, inside the main one: shut down without waiting when dropped
/// (dropping a runtime from async code would panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn handle(&self) -> tokio::runtime::Handle {
        self.0.as_ref().expect("running").handle().clone()
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

fn summary(hist: &Histogram<u64>) -> Value {
    if hist.is_empty() {
        return json!({ "count": 0 });
    }
    let ms = |micros: u64| (micros as f64).round() / 1_000.0;
    json!({
        "count": hist.len(),
        "p50_ms": ms(hist.value_at_quantile(0.50)),
        "p90_ms": ms(hist.value_at_quantile(0.90)),
        "p99_ms": ms(hist.value_at_quantile(0.99)),
        "max_ms": ms(hist.max()),
    })
}

/// One client of the storm: reads its socket; when the socket is lost, reconnects to one of the
/// other nodes with the web client's policy and resumes its room after its last `seq`.
struct Subscriber {
    shared: Arc<Shared>,
    room: usize,
    room_id: String,
    token: String,
    source: Ipv4Addr,
    others: Arc<Vec<Target>>,
    per_room: usize,
    last_seq: u64,
}

/// How a socket's reading ended.
enum End {
    Stopped,
    Lost { code: Option<u16> },
}

impl Subscriber {
    async fn run(self, ws: Ws, mut stop: watch::Receiver<bool>) -> SubReport {
        let mut report = SubReport {
            room: self.room,
            ..SubReport::default()
        };
        let mut ledger = DeliveryLedger::new(1, self.per_room);
        let mut last_seq = self.last_seq;
        let mut socket = ws;
        // Set while a resubscribe is unanswered.
        let mut resuming = false;
        loop {
            let (mut sink, mut stream) = socket.split();
            // A resubscribe refused as `unavailable` is asked again, as the web client does.
            let (mut refusals, mut retry_at) = (0u32, None::<tokio::time::Instant>);
            let end = loop {
                let retry = async move {
                    match retry_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                let message = tokio::select! {
                    message = stream.next() => message,
                    _ = stop.changed() => break End::Stopped,
                    _ = retry => {
                        retry_at = None;
                        let subscribe = json!({"type": "subscribe", "room_id": self.room_id,
                                               "after": last_seq});
                        if sink.send(Message::text(subscribe.to_string())).await.is_err() {
                            break End::Lost { code: None };
                        }
                        continue;
                    }
                };
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        break End::Lost {
                            code: frame.map(|f| u16::from(f.code)),
                        }
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break End::Lost { code: None },
                };
                match classify(&text) {
                    Frame::Event { seq, mark } => {
                        if let Some(seq) = seq {
                            if seq <= last_seq {
                                report.seq_regressions += 1;
                            } else if seq != last_seq + 1 {
                                report.seq_gaps += 1;
                            }
                            last_seq = last_seq.max(seq);
                        }
                        if resuming {
                            report.replayed += 1;
                        }
                        let Some(mark) = mark else { continue };
                        report.received += 1;
                        if mark.publisher == self.room {
                            let before = ledger.unique;
                            ledger.mark(0, mark.number);
                            if ledger.unique > before {
                                self.shared.unique.fetch_add(1, Ordering::Relaxed);
                            }
                        } else {
                            ledger.foreign += 1;
                        }
                    }
                    Frame::Other { kind: SUBSCRIBED } if resuming => {
                        resuming = false;
                        if report.caught_up_ns.is_none() {
                            let now = now_ns();
                            report.caught_up_ns = Some(now);
                            self.shared
                                .last_caught_up_ns
                                .fetch_max(now, Ordering::SeqCst);
                            self.shared.caught_up.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Frame::Other { kind: RESYNC } => report.resyncs += 1,
                    Frame::Error { code }
                        if resuming
                            && code == "unavailable"
                            && refusals < reconnect::SUBSCRIBE_RETRIES =>
                    {
                        report.subscribe_retries += 1;
                        let pause = reconnect::SUBSCRIBE_RETRY_MS << refusals;
                        refusals += 1;
                        retry_at = Some(tokio::time::Instant::now() + Duration::from_millis(pause));
                    }
                    Frame::Error { .. } => report.errors += 1,
                    _ => {}
                }
            };
            let code = match end {
                End::Stopped => {
                    let _ = sink.close().await;
                    break;
                }
                End::Lost { code } => code,
            };
            drop((sink, stream));
            if self.shared.kill_ns.load(Ordering::SeqCst) == 0 {
                report.early_loss = true;
            }
            if report.lost_ns.is_none() {
                report.lost_ns = Some(now_ns());
            } else {
                report.later_losses += 1;
            }
            // The lost socket had said hello: the count of failures starts again at 1.
            let mut failures = 1;
            let mut delay = match code {
                Some(SLOW_CONSUMER_CLOSE) => Duration::ZERO,
                _ => reconnect::reconnect_delay(failures),
            };
            socket = loop {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return self.finish(report, ledger),
                }
                report.attempts += 1;
                let target = &self.others[rand::thread_rng().gen_range(0..self.others.len())];
                let attempt = tokio::time::timeout(
                    Duration::from_millis(HELLO_TIMEOUT_MS),
                    net::connect(target, self.source, &self.token),
                )
                .await;
                let failure = match attempt {
                    Ok(Ok(ws)) => {
                        let mut ws = ws.into_inner();
                        let subscribe = json!({"type": "subscribe", "room_id": self.room_id,
                                               "after": last_seq});
                        match ws.send(Message::text(subscribe.to_string())).await {
                            Ok(()) => break ws,
                            Err(err) => {
                                report.failed_error += 1;
                                format!("subscribe: {err}")
                            }
                        }
                    }
                    Ok(Err(err)) => {
                        report.failed_error += 1;
                        format!("{err:#}")
                    }
                    Err(_) => {
                        report.failed_timeout += 1;
                        format!("no hello within {HELLO_TIMEOUT_MS} ms")
                    }
                };
                report.failure_sample.get_or_insert(failure);
                failures += 1;
                if failures >= FAILURES_BEFORE_POLLING {
                    report.would_poll = true;
                }
                delay = reconnect::reconnect_delay(failures);
            };
            resuming = true;
        }
        self.finish(report, ledger)
    }

    fn finish(&self, mut report: SubReport, ledger: DeliveryLedger) -> SubReport {
        report.ledger = Some(ledger);
        report
    }
}

/// One rated sender on another node: sends into its room until told to stop, then waits for
/// the answers still due.
struct Sender {
    room: usize,
    room_id: String,
    rate: f64,
    count: usize,
    start: Instant,
    start_ns: u64,
    drain: Duration,
    body_bytes: usize,
}

impl Sender {
    async fn run(self, ws: Ws, mut stop: watch::Receiver<bool>) -> SendReport {
        let mut report = SendReport {
            room: self.room,
            ..SendReport::default()
        };
        let (mut sink, mut stream) = ws.split();
        let period = Duration::from_secs_f64((1.0 / self.rate).clamp(0.001, 10.0));
        let mut tick = tokio::time::interval_at(self.start.into(), period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut answered = 0usize;
        let mut stopping: Option<Instant> = None;
        let drain = self.drain;
        loop {
            let stopped_at = stopping;
            let drain_over = async move {
                match stopped_at {
                    Some(at) => tokio::time::sleep_until((at + drain).into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tick.tick(), if stopping.is_none() && report.sent < self.count => {
                    let elapsed = self.start.elapsed().as_secs_f64();
                    let due = ((elapsed * self.rate) as usize + 1).min(self.count);
                    while report.sent < due {
                        // The intended send time: a sender that falls behind shows as latency.
                        let intended = self.start_ns + (report.sent as f64 / self.rate * 1e9) as u64;
                        let frame = net::send_frame(&self.room_id, self.room, report.sent, intended, self.body_bytes);
                        report.written.push(now_ns());
                        if sink.feed(Message::text(frame)).await.is_err() {
                            report.lost_socket = true;
                            return report;
                        }
                        report.sent += 1;
                    }
                    if sink.flush().await.is_err() {
                        report.lost_socket = true;
                        return report;
                    }
                }
                _ = stop.changed(), if stopping.is_none() => stopping = Some(Instant::now()),
                message = stream.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => { report.lost_socket = true; return report; }
                    };
                    match classify(&text) {
                        Frame::Ack { mark: Some(mark) } => {
                            report.acked.push((mark.number, mark.sent_ns, now_ns()));
                            answered += 1;
                        }
                        Frame::Ack { mark: None } | Frame::Error { .. } => {
                            report.errors += 1;
                            answered += 1;
                        }
                        _ => {}
                    }
                }
                _ = drain_over => break,
            }
            if stopping.is_some() && answered >= report.sent {
                break;
            }
        }
        let _ = sink.close().await;
        report
    }
}
