//! `palaver-bench`: drives a running Palaver (or `bench-broadcast`, the bare limit) over its real
//! public protocol with many WebSocket clients and prints one JSON result per run.
//!
//! Guest tokens are made over REST first; then sockets connect from several 127.0.0.x source
//! addresses, subscribe, and publishers send messages that carry their send time in the body, so
//! every delivery is timed end to end. Every run is bounded in time (`--deadline-secs`, on top of
//! each phase's own limit) and in count (rate × duration messages per publisher).
//!
//! # Layout
//! - `net`: sign-in, rooms and sockets through `palaver-client` (from a chosen source address),
//!   and the one-pass reading of the frames that arrive by the million.
//! - `stats`: latency histograms, the per-subscriber delivery ledger, `/proc` sampling.
//! - `run`: the three kinds of run (broadcast, idle, persisted sends) the presets are made of.
//! - `search`: timed search requests over a store seeded in bulk (`scripts/bench-search`).
//! - `history`: history pages, windows, resumes and resyncs in long rooms seeded in bulk
//!   (`scripts/bench-history`).
//! - `crowd`: one part of many sockets spread over a cluster's nodes, the parts meeting at
//!   barriers (`scripts/bench-crowd`).
//! - `storm`: a node killed under many clients, which reconnect to the others with the web
//!   client's policy (`reconnect`, kept equal to `web/src/reconnect.ts` by a test) and resume.

mod crowd;
mod history;
mod net;
mod reconnect;
mod run;
mod search;
mod stats;
mod storm;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};

use crate::net::Target;
use crate::run::{Broadcast, Common, Idle, Persisted};

#[derive(Parser, Debug)]
#[command(
    name = "palaver-bench",
    about = "Load generator for Palaver's WebSocket protocol; prints one JSON result per run"
)]
struct Cli {
    #[command(subcommand)]
    preset: Preset,
}

#[derive(Args, Debug, Clone)]
struct CommonArgs {
    /// The server's base URL (an IP literal and port).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's pid: its RSS and CPU seconds during the run are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Another node's pid (repeat for each): its RSS and CPU are reported under "nodes".
    #[arg(long)]
    node_pid: Vec<u32>,
    /// Spread connections over 127.0.0.1 … 127.0.0.N as source addresses.
    #[arg(long, default_value_t = 8)]
    source_ips: u8,
    /// The first source address's last number (127.0.0.N), so that processes of one run use
    /// different addresses.
    #[arg(long, default_value_t = 1)]
    source_ip_from: u8,
    /// Sockets being opened at once.
    #[arg(long, default_value_t = 500)]
    connect_concurrency: usize,
    /// Guest sign-ins in flight at once.
    #[arg(long, default_value_t = 32)]
    http_concurrency: usize,
    /// Tokio worker threads of this tool (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Hard limit on the whole run, setup included; past it the run is abandoned.
    #[arg(long, default_value_t = 300.0)]
    deadline_secs: f64,
    /// A free-form label copied into the result (e.g. "palaver" or "bare").
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Args, Debug, Clone)]
struct BroadcastArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Rooms (preset default: fanout 1, many-rooms 100).
    #[arg(long)]
    rooms: Option<usize>,
    /// Subscribers per room (preset default: fanout 1,000, many-rooms 50).
    #[arg(long)]
    subscribers: Option<usize>,
    /// Publishers per room; each is its own guest user and does not subscribe.
    #[arg(long)]
    publishers: Option<usize>,
    /// Messages a second per publisher (preset default: fanout 1,000, many-rooms 20).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds at the start whose messages are counted but not timed.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds to wait after publishing for acks and deliveries still on their way.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Size of each message body in bytes (at least the ~40-byte timing header).
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
}

#[derive(Subcommand, Debug)]
enum Preset {
    /// 1 room × 1,000 subscribers, 1 publisher at --rate msg/s (100 / 300 / 1,000 / 2,000).
    Fanout(BroadcastArgs),
    /// 100 rooms × 50 subscribers, one publisher per room at 20 msg/s.
    ManyRooms(BroadcastArgs),
    /// Fan-out with publishers on one node (--publish-url) and subscribers on another (--url),
    /// or spread over several (--subscriber-url, repeated, round robin).
    Cluster {
        #[command(flatten)]
        broadcast: BroadcastArgs,
        /// Base URL of the node the publishers connect to.
        #[arg(long)]
        publish_url: String,
        /// Base URLs of the nodes the subscribers connect to, round robin (default: --url).
        #[arg(long)]
        subscriber_url: Vec<String>,
    },
    /// N signed-in sockets, each subscribed to a room, held open: RSS per connection and the
    /// time until the first --mark have connected.
    Idle {
        #[command(flatten)]
        common: CommonArgs,
        /// Sockets to open (the server needs a file descriptor for each).
        #[arg(long, default_value_t = 20_000)]
        connections: usize,
        /// Rooms the sockets subscribe to, round robin. (Each subscribe tells the room's other
        /// subscribers who came online, so a room of n sockets costs n²/2 presence frames.)
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// Seconds to hold every socket open before measuring RSS.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        /// Report how long the first this-many connections took.
        #[arg(long, default_value_t = 5_000)]
        mark: usize,
    },
    /// Senders as fast as acks allow (an ack means committed): acked msg/s and ack latency.
    PersistedSends {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 100)]
        senders: usize,
        /// Rooms the senders write to, round robin.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Sends each sender keeps in flight.
        #[arg(long, default_value_t = 1)]
        window: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 10.0)]
        drain: f64,
        #[arg(long, default_value_t = 100)]
        body_bytes: usize,
    },
    /// Reconnect storm: --connections sockets subscribed on node A (--url), one sender per room
    /// on the other nodes (--reconnect-url, repeat) at --rate msg/s; after --before seconds node
    /// A (--kill-pid) is killed with SIGKILL and every client reconnects to another node with
    /// the web client's policy and resumes. Start the nodes with `scripts/bench-storm`.
    Storm {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 16_000)]
        connections: usize,
        /// Rooms; socket i subscribes to room i mod --rooms.
        #[arg(long, default_value_t = 160)]
        rooms: usize,
        /// Messages a second into each room.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Nodes the clients reconnect to and the senders send through (base URLs).
        #[arg(long = "reconnect-url", required = true)]
        reconnect_urls: Vec<String>,
        /// Node A's pid: the tool kills it with SIGKILL.
        #[arg(long)]
        kill_pid: i32,
        /// Pids of the other nodes, whose CPU and RSS are reported.
        #[arg(long)]
        watch_pid: Vec<u32>,
        /// Seconds of sending before the kill.
        #[arg(long, default_value_t = 5.0)]
        before: f64,
        /// Seconds of sending after every client has caught up.
        #[arg(long, default_value_t = 3.0)]
        tail: f64,
        /// Longest the storm may last before the stragglers are given up on.
        #[arg(long, default_value_t = 60.0)]
        storm_limit: f64,
        #[arg(long, default_value_t = 15.0)]
        drain: f64,
        #[arg(long, default_value_t = 100)]
        body_bytes: usize,
        /// Exit with status 1 unless everyone caught up with nothing lost or doubled.
        #[arg(long)]
        check: bool,
    },
    /// One part of a crowd spread over a cluster (start the parts with `scripts/bench-crowd`):
    /// --connections guests signed in through --url, joined, connected and subscribed, held;
    /// then --messages into the big room (room 0, which every --big-every-th socket of all parts
    /// joins), timed where they arrive.
    Crowd {
        #[command(flatten)]
        common: CommonArgs,
        /// This part's number, from 0 (part 0 makes the rooms and sends the messages).
        #[arg(long)]
        part: usize,
        #[arg(long)]
        parts: usize,
        /// Sockets of this part.
        #[arg(long, default_value_t = 16_667)]
        connections: usize,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        big_every: usize,
        /// Seconds to hold every socket open before reading the node's RSS.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        /// Messages into the big room (at most 64).
        #[arg(long, default_value_t = 10)]
        messages: usize,
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        /// Seconds to wait for deliveries after the last send.
        #[arg(long, default_value_t = 20.0)]
        drain: f64,
        /// Where the parts meet (barrier files, the room ids).
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Longest a part waits for the others at a barrier.
        #[arg(long, default_value_t = 300.0)]
        barrier_secs: f64,
        /// The presence each subscribe asks for: `web` (as the web client: `counts` in a room
        /// of more than 250 members, else `full`), `full` or `counts`.
        #[arg(long, default_value = "web")]
        presence: String,
    },
    /// Search latency: 20 typical queries (or --query, repeatable), one request at a time, for
    /// --rounds rounds after one unmeasured round. Seed the store first (scripts/bench-search).
    Search {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// A query to run instead of the built-in list (repeat for several).
        #[arg(long)]
        query: Vec<String>,
    },
    /// Long history: pages before random depths, windows around random messages, resumes after
    /// --missed events and resyncs, in the rooms of --samples (seed them first:
    /// scripts/bench-history).
    History {
        #[command(flatten)]
        common: CommonArgs,
        /// Points at random depths, `room_id seq position message_id` a line.
        #[arg(long)]
        samples: std::path::PathBuf,
        /// Messages per page.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Events a resuming socket missed.
        #[arg(long, default_value_t = 1_000)]
        missed: u64,
        /// Resumes and resyncs per room (after one unmeasured).
        #[arg(long, default_value_t = 50)]
        resumes: usize,
        /// Points read per room at most (the first of the file's).
        #[arg(long)]
        points: Option<usize>,
    },
}

impl Preset {
    fn name(&self) -> &'static str {
        match self {
            Preset::Fanout(_) => "fanout",
            Preset::ManyRooms(_) => "many-rooms",
            Preset::Cluster { .. } => "cluster",
            Preset::Idle { .. } => "idle",
            Preset::PersistedSends { .. } => "persisted-sends",
            Preset::Search { .. } => "search",
            Preset::History { .. } => "history",
            Preset::Storm { .. } => "storm",
            Preset::Crowd { .. } => "crowd",
        }
    }

    fn common(&self) -> &CommonArgs {
        match self {
            Preset::Fanout(args) | Preset::ManyRooms(args) => &args.common,
            Preset::Cluster { broadcast, .. } => &broadcast.common,
            Preset::Idle { common, .. }
            | Preset::PersistedSends { common, .. }
            | Preset::Search { common, .. }
            | Preset::History { common, .. }
            | Preset::Storm { common, .. }
            | Preset::Crowd { common, .. } => common,
        }
    }

    /// Sockets this run opens at most, so the tool can check its file-descriptor limit first.
    fn sockets(&self) -> usize {
        match self {
            Preset::Fanout(args) | Preset::ManyRooms(args) => {
                let plan = self.broadcast_plan(args, None);
                plan.map(|p| p.rooms * (p.subscribers + p.publishers))
                    .unwrap_or(0)
            }
            Preset::Cluster { broadcast, .. } => {
                let plan = self.broadcast_plan(broadcast, None);
                plan.map(|p| p.rooms * (p.subscribers + p.publishers))
                    .unwrap_or(0)
            }
            Preset::Idle { connections, .. } => *connections,
            Preset::PersistedSends { senders, .. } => *senders,
            Preset::Search { .. } => 1,
            Preset::History { .. } => 2,
            Preset::Storm {
                connections, rooms, ..
            } => connections + rooms,
            Preset::Crowd { connections, .. } => connections + 1,
        }
    }

    fn broadcast_plan(
        &self,
        args: &BroadcastArgs,
        publish_url: Option<&str>,
    ) -> anyhow::Result<Broadcast> {
        let subscriber_urls = match self {
            Preset::Cluster { subscriber_url, .. } => subscriber_url.as_slice(),
            _ => &[],
        };
        let (rooms, subscribers, rate) = match self {
            Preset::ManyRooms(_) => (100, 50, 20.0),
            _ => (1, 1_000, 1_000.0),
        };
        Ok(Broadcast {
            rooms: args.rooms.unwrap_or(rooms),
            subscribers: args.subscribers.unwrap_or(subscribers),
            publishers: args.publishers.unwrap_or(1),
            rate: args.rate.unwrap_or(rate),
            duration: args.duration,
            warmup: args.warmup,
            drain: args.drain,
            body_bytes: args.body_bytes,
            publish_target: publish_url.map(Target::parse).transpose()?,
            subscriber_targets: subscriber_urls
                .iter()
                .map(|url| Target::parse(url))
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

fn main() {
    let cli = Cli::parse();
    let common = cli.preset.common().clone();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = common.threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build().expect("a tokio runtime");
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let started = std::time::Instant::now();
    let outcome = runtime.block_on(async {
        let deadline = Duration::from_secs_f64(common.deadline_secs);
        match tokio::time::timeout(deadline, run(&cli.preset, &common)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!(
                "abandoned: the run passed --deadline-secs {}",
                common.deadline_secs
            )),
        }
    });
    let mut result = json!({
        "scenario": cli.preset.name(),
        "label": common.label,
        "url": common.url,
        "started_at": started_at,
    });
    let ok = outcome.is_ok();
    match outcome {
        Ok(Value::Object(fields)) => result.as_object_mut().unwrap().extend(fields),
        Ok(other) => result["result"] = other,
        Err(err) => result["error"] = json!(format!("{err:#}")),
    }
    result["wall_secs"] = json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    println!("{}", serde_json::to_string_pretty(&result).expect("JSON"));
    // Sockets still open are dropped with the runtime; don't wait for their tasks.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !ok {
        std::process::exit(1);
    }
}

async fn run(preset: &Preset, args: &CommonArgs) -> anyhow::Result<Value> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    let sockets = preset.sockets();
    if sockets as u64 + 64 > limit {
        anyhow::bail!(
            "{sockets} sockets need more file descriptors than this process may open ({limit})"
        );
    }
    let run_id: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(6)
        .map(char::from)
        .collect();
    let common = Common {
        target: Target::parse(&args.url)?,
        ips: net::source_ips(args.source_ip_from, args.source_ips),
        server_pid: args.server_pid.map(|pid| pid.to_string()),
        node_pids: args.node_pid.iter().map(|pid| pid.to_string()).collect(),
        connect_concurrency: args.connect_concurrency.max(1),
        http_concurrency: args.http_concurrency.max(1),
        run_id: format!("b{}", run_id.to_lowercase()),
    };
    match preset {
        Preset::Fanout(broadcast) | Preset::ManyRooms(broadcast) => {
            run::broadcast(&common, &preset.broadcast_plan(broadcast, None)?).await
        }
        Preset::Cluster {
            broadcast,
            publish_url,
            ..
        } => {
            run::broadcast(
                &common,
                &preset.broadcast_plan(broadcast, Some(publish_url))?,
            )
            .await
        }
        Preset::Idle {
            connections,
            rooms,
            hold,
            mark,
            ..
        } => {
            let plan = Idle {
                connections: *connections,
                rooms: *rooms,
                hold: *hold,
                mark: *mark,
            };
            run::idle(&common, &plan).await
        }
        Preset::PersistedSends {
            senders,
            rooms,
            window,
            duration,
            warmup,
            drain,
            body_bytes,
            ..
        } => {
            let plan = Persisted {
                senders: *senders,
                rooms: *rooms,
                window: *window,
                duration: *duration,
                warmup: *warmup,
                drain: *drain,
                body_bytes: *body_bytes,
            };
            run::persisted(&common, &plan).await
        }
        Preset::Crowd {
            part,
            parts,
            connections,
            rooms,
            big_every,
            hold,
            messages,
            interval_ms,
            drain,
            dir,
            barrier_secs,
            presence,
            ..
        } => {
            let plan = crowd::Crowd {
                part: *part,
                parts: *parts,
                connections: *connections,
                rooms: *rooms,
                big_every: *big_every,
                hold: *hold,
                messages: *messages,
                interval_ms: *interval_ms,
                drain: *drain,
                dir: dir.clone(),
                barrier_limit: Duration::from_secs_f64(*barrier_secs),
                presence: crowd::PresenceChoice::parse(presence)?,
            };
            crowd::crowd(&common, &plan).await
        }
        Preset::Search { rounds, query, .. } => {
            let queries = match query.is_empty() {
                true => search::QUERIES.iter().map(|q| q.to_string()).collect(),
                false => query.clone(),
            };
            let plan = search::SearchPlan {
                rounds: *rounds,
                queries,
            };
            search::search(&common, &plan).await
        }
        Preset::History {
            samples,
            limit,
            missed,
            resumes,
            points,
            ..
        } => {
            let text = std::fs::read_to_string(samples)
                .map_err(|err| anyhow::anyhow!("{}: {err}", samples.display()))?;
            let mut rooms = history::read_samples(&text)?;
            if let Some(points) = points {
                rooms.values_mut().for_each(|room| room.truncate(*points));
            }
            let plan = history::HistoryPlan {
                rooms,
                limit: *limit,
                missed: *missed,
                resumes: *resumes,
            };
            history::history(&common, &plan).await
        }
        Preset::Storm {
            connections,
            rooms,
            rate,
            reconnect_urls,
            kill_pid,
            watch_pid,
            before,
            tail,
            storm_limit,
            drain,
            body_bytes,
            check,
            ..
        } => {
            let plan = storm::Storm {
                connections: *connections,
                rooms: *rooms,
                rate: *rate,
                before: *before,
                tail: *tail,
                storm_limit: *storm_limit,
                drain: *drain,
                body_bytes: *body_bytes,
                others: reconnect_urls
                    .iter()
                    .map(|url| Target::parse(url))
                    .collect::<Result<_, _>>()?,
                kill_pid: *kill_pid,
                watch_pids: watch_pid.clone(),
            };
            let result = storm::storm(&common, &plan).await?;
            if *check && result["passed"] != true {
                anyhow::bail!("the storm failed its checks: {result}");
            }
            Ok(result)
        }
    }
}
