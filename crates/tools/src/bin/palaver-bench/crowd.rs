//! A crowd: one part of a run of many signed-in, subscribed sockets spread over a cluster's
//! nodes (issue #14 item 2: 100,000 on 6 nodes). A process may hold only 20,000 files here, so
//! `scripts/bench-crowd` starts one `palaver-bench crowd` per node (`--part k --parts n`); the
//! parts meet at barriers (files in `--dir`) so that each phase starts everywhere at once and
//! its cluster-wide time is the last part's end minus the first part's start (wall clock).
//!
//! Phases, each timed by every part:
//! 1. **sign-in**: `--connections` guests over REST through this part's node;
//! 2. **rooms**: part 0 makes `--rooms` rooms (room 0 is the big room) and writes their ids;
//! 3. **join**: socket `g` (numbered across parts) joins room `g mod rooms`, and every
//!    `--big-every`-th also the big room, over REST (so that subscribing writes nothing);
//! 4. **connect**: every socket connects, gets `hello` and subscribes to its room(s); as the web
//!    client, a subscribe refused as `unavailable` is asked again, and a socket that fails is
//!    opened again after the reconnect policy's delay (up to 5 times);
//! 5. **hold**: `--hold` seconds, then this part's node's RSS is read (per connection: its growth
//!    since before the connect phase over the sockets this part opened there);
//! 6. **message**: part 0 sends `--messages` messages into the big room, one every
//!    `--interval-ms`; every part counts and times (send time to arrival, wall clock) what its
//!    big-room sockets receive, and how many each got twice.
//!
//! Each part prints its JSON; the script adds them up. Bounded by `--deadline-secs` and each
//! barrier's limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures_util::{stream, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{self, classify, Frame, Rest, Ws};
use crate::reconnect;
use crate::run::{guest_tokens, join_all, other_frames_by_type, round3, Common};
use crate::stats::ProcWatch;

/// One part's share of a crowd run.
#[derive(Debug, Clone)]
pub struct Crowd {
    pub part: usize,
    pub parts: usize,
    pub connections: usize,
    pub rooms: usize,
    pub big_every: usize,
    pub hold: f64,
    pub messages: usize,
    pub interval_ms: u64,
    pub drain: f64,
    pub dir: PathBuf,
    /// Longest a part waits at a barrier for the others.
    pub barrier_limit: Duration,
    pub presence: PresenceChoice,
}

/// The presence a crowd's subscribes ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChoice {
    /// As the web client does: `counts` in a room of more than [`WEB_COUNTS_ABOVE`] members.
    Web,
    Full,
    Counts,
}

/// The web client's threshold (`PRESENCE_COUNTS_ABOVE` in web/src/chat.ts).
const WEB_COUNTS_ABOVE: usize = 250;

impl PresenceChoice {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "web" => Ok(PresenceChoice::Web),
            "full" => Ok(PresenceChoice::Full),
            "counts" => Ok(PresenceChoice::Counts),
            other => bail!("--presence is web, full or counts, not {other:?}"),
        }
    }

    /// Whether a subscribe to a room of `members` asks for counts.
    fn counts(self, members: usize) -> bool {
        match self {
            PresenceChoice::Web => members > WEB_COUNTS_ABOVE,
            PresenceChoice::Full => false,
            PresenceChoice::Counts => true,
        }
    }
}

/// Nanoseconds since the Unix epoch: the one clock every part (process) shares.
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Writes `dir/name-part` and waits until every part has written its own.
async fn barrier(plan: &Crowd, name: &str, body: &Value) -> anyhow::Result<()> {
    write_atomically(&plan.dir.join(format!("{name}-{}", plan.part)), body)?;
    let started = Instant::now();
    loop {
        let missing = (0..plan.parts)
            .filter(|k| !plan.dir.join(format!("{name}-{k}")).exists())
            .count();
        if missing == 0 {
            return Ok(());
        }
        if started.elapsed() > plan.barrier_limit {
            bail!("{missing} parts never reached the {name} barrier");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_atomically(path: &Path, body: &Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body.to_string())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Most times one socket is opened again after its first attempt failed, before it counts as a
/// failure.
const MAX_RECONNECTS: u32 = 5;

/// [`net::subscribe_raw`], asked again when refused as `unavailable`, as the web client does
/// (after 0.5, 1, 2 and 4 s).
async fn subscribe_retrying(ws: &mut Ws, room_id: &str, counts: bool) -> anyhow::Result<()> {
    let mut refusals = 0;
    loop {
        match net::subscribe_raw(ws, room_id, counts).await {
            Err(err)
                if err.to_string().contains(r#""code":"unavailable""#)
                    && refusals < reconnect::SUBSCRIBE_RETRIES =>
            {
                let pause = reconnect::SUBSCRIBE_RETRY_MS << refusals;
                refusals += 1;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

/// What the part's sockets of the big room received.
struct BigRoom {
    /// Deliveries of each message number.
    delivered: Vec<AtomicU64>,
    doubled: AtomicU64,
    /// Send-to-arrival times, in microseconds.
    latencies: Mutex<Vec<u64>>,
    /// Frames other than the big room's messages (presence, room lists, other events).
    other_frames: AtomicU64,
    /// `other_frames` by type: [`net::OTHER_KINDS`], then unknown types.
    other_kinds: [AtomicU64; net::OTHER_KINDS.len() + 1],
    closed: AtomicU64,
}

pub async fn crowd(common: &Common, plan: &Crowd) -> anyhow::Result<Value> {
    if plan.parts == 0 || plan.part >= plan.parts || plan.rooms == 0 || plan.big_every == 0 {
        bail!("--part must be below --parts; --rooms and --big-every at least 1");
    }
    if plan.messages > 64 {
        bail!("--messages: at most 64");
    }
    let rest = Rest::new(&common.target, &common.ips)?;
    let mut report = json!({ "part": plan.part, "parts": plan.parts });

    // 1. Sign-in.
    barrier(plan, "start", &json!({})).await?;
    let (signin_from, signin_started) = (wall_ns(), Instant::now());
    let (tokens, failures) = guest_tokens(common, &rest, "c", plan.connections).await;
    let signin_to = wall_ns();
    report["sign_in"] = json!({
        "guests": plan.connections, "failed": failures.len(),
        "failure_samples": failures.iter().take(5).collect::<Vec<_>>(),
        "from_ns": signin_from, "to_ns": signin_to,
        "secs": round3(signin_started.elapsed().as_secs_f64()),
    });
    barrier(plan, "signed", &json!({})).await?;

    // 2. Rooms, made by part 0 (its guests own them in turn: a guest may own only so many).
    let rooms_file = plan.dir.join("rooms.json");
    if plan.part == 0 {
        let owners: Vec<&String> = tokens.iter().flatten().take(1_000).collect();
        if owners.is_empty() {
            bail!("no guest sign-in succeeded");
        }
        let mut ids = Vec::with_capacity(plan.rooms);
        for k in 0..plan.rooms {
            let name = format!("{}-crowd-{k}", common.run_id);
            ids.push(rest.create_room(owners[k % owners.len()], &name).await?);
        }
        write_atomically(&rooms_file, &json!(ids))?;
    }
    barrier(plan, "rooms", &json!({})).await?;
    let room_ids: Vec<String> = serde_json::from_str(
        &std::fs::read_to_string(&rooms_file).context("reading the rooms part 0 made")?,
    )?;
    let big_room = room_ids[0].clone();
    let global = |i: usize| plan.part * plan.connections + i;
    let is_big = |i: usize| global(i).is_multiple_of(plan.big_every);
    // Members per room across all parts: each room's share of the sockets; the big room's also
    // every big_every-th socket.
    let everyone = plan.connections * plan.parts;
    let own_counts = plan.presence.counts(everyone / plan.rooms);
    let big_counts = plan.presence.counts(everyone / plan.big_every);

    // 3. Join over REST: the room of each socket, then the big room for every big_every-th.
    let join_started = Instant::now();
    let mut join_failures = join_all(common, &rest, &tokens, |i| {
        room_ids[global(i) % room_ids.len()].clone()
    })
    .await;
    let big_tokens: Vec<Option<String>> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.clone()
                .filter(|_| is_big(i) && global(i) % room_ids.len() != 0)
        })
        .collect();
    join_failures.extend(join_all(common, &rest, &big_tokens, |_| big_room.clone()).await);
    report["join"] = json!({
        "failed": join_failures.len(),
        "failure_samples": join_failures.iter().take(5).collect::<Vec<_>>(),
        "secs": round3(join_started.elapsed().as_secs_f64()),
    });
    barrier(plan, "joined", &json!({})).await?;

    // 4. Connect and subscribe, everyone at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = common.server_pid.as_deref().and_then(ProcWatch::start);
    let rss_before = server.as_ref().and_then(ProcWatch::current);
    let big = Arc::new(BigRoom {
        delivered: (0..plan.messages).map(|_| AtomicU64::new(0)).collect(),
        doubled: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
        other_frames: AtomicU64::new(0),
        other_kinds: Default::default(),
        closed: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (connect_from, connect_started) = (wall_ns(), Instant::now());
    let mut attempts = stream::iter(0..tokens.len())
        .map(|i| {
            let token = tokens[i].clone();
            let own = room_ids[global(i) % room_ids.len()].clone();
            let extra = (is_big(i) && own != big_room).then(|| big_room.clone());
            let counts = if own == big_room {
                big_counts
            } else {
                own_counts
            };
            let source = common.ips[i % common.ips.len()];
            let target = common.target.clone();
            async move {
                let token = token.context("no token (guest sign-in failed)")?;
                // As the web client: a subscribe refused as `unavailable` is asked again on the
                // same socket; a socket that fails (closed before `hello`, no answer) is opened
                // again after the reconnect policy's delay.
                let mut failures = 0u32;
                loop {
                    let attempt = async {
                        let mut ws = net::connect(&target, source, &token).await?.into_inner();
                        subscribe_retrying(&mut ws, &own, counts).await?;
                        if let Some(extra) = &extra {
                            subscribe_retrying(&mut ws, extra, big_counts).await?;
                        }
                        anyhow::Ok(ws)
                    };
                    let outcome = tokio::time::timeout(Duration::from_secs(60), attempt)
                        .await
                        .context("connect and subscribe took over 60 s")
                        .and_then(|outcome| outcome);
                    match outcome {
                        Ok(ws) => return anyhow::Ok((ws, is_big(i), failures)),
                        Err(err) if failures >= MAX_RECONNECTS => return Err(err),
                        Err(_) => {
                            failures += 1;
                            tokio::time::sleep(reconnect::reconnect_delay(failures)).await;
                        }
                    }
                }
            }
        })
        .buffer_unordered(common.connect_concurrency);
    let (mut opened, mut big_sockets, mut failed) = (0usize, 0usize, Vec::new());
    let (mut reconnects, mut reconnected) = (0u64, 0usize);
    let mut holders = Vec::new();
    while let Some(result) = attempts.next().await {
        match result {
            Ok((ws, in_big, failures)) => {
                opened += 1;
                reconnects += u64::from(failures);
                reconnected += usize::from(failures > 0);
                big_sockets += usize::from(in_big);
                holders.push(tokio::spawn(hold(big.clone(), ws, in_big, stop_rx.clone())));
            }
            Err(err) => failed.push(format!("{err:#}")),
        }
    }
    drop(attempts);
    let connect_to = wall_ns();
    report["connect"] = json!({
        "attempted": tokens.len(), "opened": opened, "failed": failed.len(),
        "reconnects": reconnects, "sockets_reconnected": reconnected,
        "failure_samples": failed.iter().take(5).collect::<Vec<_>>(),
        "big_room_sockets": big_sockets,
        "presence": { "own_rooms": if own_counts { "counts" } else { "full" },
                      "big_room": if big_counts { "counts" } else { "full" } },
        "from_ns": connect_from, "to_ns": connect_to,
        "secs": round3(connect_started.elapsed().as_secs_f64()),
    });
    barrier(plan, "connected", &json!({})).await?;

    // 5. Hold, then the node's memory.
    tokio::time::sleep(Duration::from_secs_f64(plan.hold)).await;
    let rss_after = server.as_ref().and_then(ProcWatch::current);
    report["memory"] = json!({
        "node_rss_before_kib": rss_before.as_ref().map(|s| s.rss_kib),
        "node_rss_after_kib": rss_after.as_ref().map(|s| s.rss_kib),
        "per_connection_kib": match (&rss_before, &rss_after) {
            (Some(b), Some(a)) if opened > 0 =>
                Some(round3(a.rss_kib.saturating_sub(b.rss_kib) as f64 / opened as f64)),
            _ => None,
        },
    });
    barrier(plan, "held", &json!({})).await?;

    // 6. Messages into the big room, sent by part 0 through its own node.
    if plan.part == 0 {
        let token = tokens
            .iter()
            .flatten()
            .next()
            .context("no token for the sender")?;
        let mut sender = net::connect(&common.target, common.ips[0], token).await?;
        let mut interval = tokio::time::interval(Duration::from_millis(plan.interval_ms));
        for number in 0..plan.messages {
            interval.tick().await;
            let frame = net::send_frame(&big_room, 0, number, wall_ns(), 100);
            let frame: Value = serde_json::from_str(&frame)?;
            sender.send(frame).await;
        }
        sender.close().await;
    }
    let wait = Duration::from_millis(plan.interval_ms * plan.messages as u64)
        + Duration::from_secs_f64(plan.drain);
    let started = Instant::now();
    while started.elapsed() < wait {
        let all = big
            .delivered
            .iter()
            .all(|d| d.load(Ordering::Relaxed) >= big_sockets as u64);
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    for holder in holders {
        let _ = holder.await;
    }
    let delivered: Vec<u64> = big
        .delivered
        .iter()
        .map(|d| d.load(Ordering::Relaxed))
        .collect();
    let expected = (big_sockets * plan.messages) as u64;
    let got: u64 = delivered.iter().sum();
    let latencies = std::mem::take(&mut *big.latencies.lock().unwrap());
    report["big_room"] = json!({
        "sockets": big_sockets, "messages": plan.messages,
        "expected": expected, "delivered": got, "lost": expected.saturating_sub(got),
        "doubled": big.doubled.load(Ordering::Relaxed),
        "latencies_us": latencies,
    });
    report["frames_other"] = json!(big.other_frames.load(Ordering::Relaxed));
    report["frames_other_by_type"] = other_frames_by_type(&big.other_kinds);
    report["closed_by_server_or_errors"] = json!(big.closed.load(Ordering::Relaxed));
    report["node"] = json!(server.map(ProcWatch::finish));
    Ok(report)
}

/// Holds a socket open, reading; a big-room socket records the messages it gets.
async fn hold(big: Arc<BigRoom>, ws: Ws, in_big: bool, mut stop: watch::Receiver<bool>) {
    let (mut sink, mut stream) = ws.split();
    let mut seen: u64 = 0;
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => match classify(&text) {
                    Frame::Event { mark: Some(mark), .. } if in_big && mark.number < 64 => {
                        let at = wall_ns();
                        let bit = 1u64 << mark.number;
                        if seen & bit != 0 {
                            big.doubled.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        seen |= bit;
                        if let Some(d) = big.delivered.get(mark.number) {
                            d.fetch_add(1, Ordering::Relaxed);
                        }
                        let micros = at.saturating_sub(mark.sent_ns) / 1_000;
                        big.latencies.lock().unwrap().push(micros);
                    }
                    other => {
                        big.other_frames.fetch_add(1, Ordering::Relaxed);
                        if let Frame::Other { kind } = other {
                            big.other_kinds[kind].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    big.closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = stop.changed() => break,
        }
    }
    let _ = sink.close().await;
}
