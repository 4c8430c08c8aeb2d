//! The long-history run (issue #14): what reading a room costs when the room and the store are
//! large. One signed-in guest, one request at a time, on rooms seeded in bulk beforehand
//! (`scripts/bench-history`, which also writes the points read here):
//! - `latest`: the room's last page (`GET …/messages?limit=`), as a room opens;
//! - `before`: a page before a position at a random depth (`?before=POSITION`), as scrolling up;
//! - `around`: a window around a message at a random depth (`?around=ID`), as a search hit opens;
//! - `resume`: a socket that saw the room up to `last_seq − missed` connects and subscribes with
//!   `after`: from the start of the connect (and from `hello`) to `subscribed`, with every
//!   missed event replayed (counted: a short replay fails the run);
//! - `resync`: the same from too far back (more than the server replays): from the start of the
//!   connect to `resync`, then the room's last page over REST, as a client reloads it.
//!
//! Every latency is the whole round trip on loopback, into one histogram per room and kind; one
//! unmeasured pass first warms the caches.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use palaver_client::Rest;
use serde_json::{json, Value};

use crate::net;
use crate::run::Common;

/// One point of a room: a message's display position and id.
#[derive(Debug, Clone)]
pub struct Point {
    pub position: String,
    pub message_id: String,
}

pub struct HistoryPlan {
    /// Rooms and their points, from `--samples` (`room_id seq position message_id` a line).
    pub rooms: BTreeMap<String, Vec<Point>>,
    /// Messages a page asks for.
    pub limit: u32,
    /// Events a resuming socket missed.
    pub missed: u64,
    /// Resumes (and resyncs) per room.
    pub resumes: usize,
}

/// Reads a samples file written by `scripts/bench-search-seed.py --samples`.
pub fn read_samples(text: &str) -> anyhow::Result<BTreeMap<String, Vec<Point>>> {
    let mut rooms: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [room, _seq, position, id] = parts[..] else {
            bail!("samples line {}: want `room_id seq position id`", n + 1);
        };
        rooms.entry(room.to_string()).or_default().push(Point {
            position: position.to_string(),
            message_id: id.to_string(),
        });
    }
    if rooms.is_empty() {
        bail!("the samples file has no points");
    }
    Ok(rooms)
}

fn ms(micros: u64) -> f64 {
    (micros as f64 / 1_000.0 * 1_000.0).round() / 1_000.0
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds")
}

fn summary(hist: &Histogram<u64>) -> Value {
    json!({
        "count": hist.len(),
        "p50_ms": ms(hist.value_at_quantile(0.50)),
        "p99_ms": ms(hist.value_at_quantile(0.99)),
        "max_ms": ms(hist.max()),
    })
}

fn record(hist: &mut Histogram<u64>, started: Instant) {
    hist.saturating_record((started.elapsed().as_micros() as u64).max(1));
}

/// GETs `path`, failing on anything but 200 or on a page without messages.
async fn page(rest: &Rest, token: &str, path: &str) -> anyhow::Result<usize> {
    let (status, body) = rest.get(path, Some(token)).await?;
    if status != 200 {
        bail!("{path}: {status} {body}");
    }
    let n = body["messages"].as_array().map_or(0, Vec::len);
    Ok(n)
}

pub async fn history(common: &Common, plan: &HistoryPlan) -> anyhow::Result<Value> {
    let rest = Rest::new(&common.target.base);
    let session = rest
        .guest(&format!("{}h", common.run_id))
        .await
        .context("signing in a guest")?;
    let token = session.token;
    let source = common.ips.first().copied().unwrap_or(Ipv4Addr::LOCALHOST);
    let mut out = Vec::new();
    for (room, points) in &plan.rooms {
        rest.join(&token, room).await?;
        let mut latest = histogram();
        let mut before = histogram();
        let mut around = histogram();
        // One pass unmeasured, then one measured.
        for pass in 0..2 {
            for point in points {
                let base = format!("/api/rooms/{room}/messages?limit={}", plan.limit);
                let started = Instant::now();
                page(&rest, &token, &base).await?;
                if pass == 1 {
                    record(&mut latest, started);
                }
                let path = format!("{base}&before={}", point.position);
                let started = Instant::now();
                page(&rest, &token, &path).await?;
                if pass == 1 {
                    record(&mut before, started);
                }
                let path = format!("{base}&around={}", point.message_id);
                let started = Instant::now();
                if page(&rest, &token, &path).await? == 0 {
                    bail!("{path}: an empty window");
                }
                if pass == 1 {
                    record(&mut around, started);
                }
            }
        }

        // The room's last seq, from a subscribe without `after`.
        let mut ws = net::connect(&common.target, source, &token).await?;
        let last_seq = net::subscribe(&mut ws, room).await?;
        ws.close().await;
        let missed = plan.missed.min(last_seq);
        // Past the server's replay limit (1,000): `resync`.
        let too_far = last_seq.saturating_sub(plan.missed.max(1_000) + 1_000);
        let mut resume = histogram();
        let mut from_hello = histogram();
        let mut resync = histogram();
        let mut replayed = 0;
        for pass in 0..=plan.resumes {
            let started = Instant::now();
            let mut ws = net::connect(&common.target, source, &token).await?;
            let subscribing = Instant::now();
            let sub = ws
                .try_subscribe(room, Some(last_seq - missed))
                .await
                .map_err(|closed| anyhow::anyhow!("resume: the socket ended: {closed:?}"))?;
            if sub.answer["type"] != "subscribed" {
                bail!("resume after {}: {}", last_seq - missed, sub.answer);
            }
            // Events that arrived live meanwhile (none here: nobody else writes) count too.
            if (sub.replayed.len() as u64) < missed {
                bail!("resume: {} events replayed of {missed}", sub.replayed.len());
            }
            if pass > 0 {
                record(&mut resume, started);
                record(&mut from_hello, subscribing);
            }
            replayed = sub.replayed.len();
            ws.close().await;

            if too_far > 0 {
                let started = Instant::now();
                let mut ws = net::connect(&common.target, source, &token).await?;
                let sub = ws
                    .try_subscribe(room, Some(too_far))
                    .await
                    .map_err(|closed| anyhow::anyhow!("resync: the socket ended: {closed:?}"))?;
                if sub.answer["type"] != "resync" {
                    bail!("a subscribe after {too_far} answered {}", sub.answer);
                }
                let path = format!("/api/rooms/{room}/messages?limit={}", plan.limit);
                page(&rest, &token, &path).await?;
                if pass > 0 {
                    record(&mut resync, started);
                }
                ws.close().await;
            }
        }
        out.push(json!({
            "room_id": room,
            "points": points.len(),
            "last_seq": last_seq,
            "latest": summary(&latest),
            "before": summary(&before),
            "around": summary(&around),
            "resume": {
                "missed": missed,
                "replayed": replayed,
                "from_connect": summary(&resume),
                "from_hello": summary(&from_hello),
            },
            "resync": match too_far {
                0 => Value::Null,
                after => json!({"after": after, "timing": summary(&resync)}),
            },
        }));
    }
    Ok(json!({
        "limit": plan.limit,
        "rooms": out,
    }))
}
