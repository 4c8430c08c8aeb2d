//! Things dying mid-stream: a node (SIGKILL), Redis (restarted), PostgreSQL (cut off).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::chatter::Chatter;
use crate::harness::{connect, eventually, free_port, Cluster, ClusterOptions, WAIT};

const PER_CLIENT: usize = 30;

#[tokio::test]
async fn a_node_killed_mid_stream_loses_and_doubles_nothing() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let addrs = vec![cluster.node(0).addr(), cluster.node(1).addr()];
    let base_b = cluster.node(1).url("");
    let (_, owner_token) = cluster.guest(&base_b, "owner").await;
    let room = cluster.create_room(&base_b, &owner_token, "Doomed").await;

    // Three clients on each node, all sending into one room.
    let mut tasks = Vec::new();
    let (killed_tx, killed_rx) = watch::channel(false);
    let progress = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for i in 0..6 {
        let name = format!("client{i}");
        let (_, token) = cluster.guest(&base_b, &name).await;
        let start_on = i % 2; // even: node A (dies), odd: node B
        let mut chatter = Chatter::join(&name, &token, &room, addrs.clone(), start_on).await;
        assert_eq!(chatter.node_id(), ["node-a", "node-b"][start_on]);
        let mut killed = killed_rx.clone();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..PER_CLIENT {
                // Half-way, hold until the kill has happened, so both halves of the stream
                // straddle it whatever the scheduling.
                if n == PER_CLIENT / 2 {
                    progress.fetch_add(1, Ordering::SeqCst);
                    let _ = killed.wait_for(|k| *k).await;
                }
                let id = format!("{}-{n}", chatter.name);
                chatter
                    .send(&id, &format!("message {n} from {}", chatter.name))
                    .await;
            }
            chatter
        }));
    }
    // Kill node A while its clients have sends in flight: wait until most clients are half-way
    // (the rest are mid-send), then SIGKILL.
    eventually("clients half-way", || {
        let done = progress.load(Ordering::SeqCst);
        async move { (done >= 4).then_some(()) }
    })
    .await;
    cluster.nodes[0].kill().await;
    let killed_at = Instant::now();
    killed_tx.send(true).unwrap();

    let mut chatters = Vec::new();
    for task in tasks {
        chatters.push(
            tokio::time::timeout(WAIT * 6, task)
                .await
                .expect("clients finish")
                .expect("client task"),
        );
    }
    let (last_seq, store_ids) = cluster.store_view(&base_b, &owner_token, &room).await;
    assert_eq!(
        store_ids.len(),
        6 * PER_CLIENT,
        "every acked message stored once"
    );
    let mut recoveries = Vec::new();
    for chatter in &mut chatters {
        chatter.catch_up_to(last_seq).await;
        assert_eq!(chatter.last_seq, last_seq);
        assert_eq!(
            chatter.created, store_ids,
            "{}'s list differs from the store's",
            chatter.name
        );
        assert_eq!(chatter.acked.len(), PER_CLIENT);
        recoveries.extend(chatter.recoveries.iter().copied());
    }
    // The clients of the dead node all moved to the live one.
    let moved: Vec<&str> = chatters
        .iter()
        .filter(|c| c.reconnects > 0)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        moved,
        ["client0", "client2", "client4"],
        "only node A's clients reconnected"
    );
    recoveries.sort();
    eprintln!(
        "after SIGKILL of node A: its clients were chatting again (next ack) after {:?} (max {:?}); \
         the test ran {:?} past the kill",
        recoveries.first(),
        recoveries.last(),
        killed_at.elapsed()
    );
    for chatter in chatters {
        chatter.close().await;
    }
}

/// A private redis-server on a free port, so restarting it disturbs no other test.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (run the README's test command, which installs it)");
        eventually("redis-server to listen", || async move {
            TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        PrivateRedis {
            port,
            child: Some(child),
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

#[tokio::test]
async fn redis_restarted_mid_stream_delivery_resumes_and_the_gap_is_filled() {
    let mut redis = PrivateRedis::start(free_port()).await;
    let cluster = Cluster::start(ClusterOptions {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let (_, alice_token) = cluster.guest(&a.url(""), "alice").await;
    let (_, bob_token) = cluster.guest(&b.url(""), "bob").await;
    let room = cluster.create_room(&a.url(""), &alice_token, "Flaky").await;
    let mut alice = Chatter::join("alice", &alice_token, &room, vec![a.addr()], 0).await;
    let mut bob = Chatter::join("bob", &bob_token, &room, vec![b.addr()], 0).await;
    bob.send("b-hello", "hi").await;

    for n in 0..10 {
        alice.send(&format!("a-{n}"), "before").await;
    }
    // Bob sees them live, across nodes.
    let (seq_before, _) = cluster.store_view(&b.url(""), &bob_token, &room).await;
    bob.catch_up_to(seq_before).await;

    redis.kill().await;
    // Readiness tells the load balancer the bus is gone.
    eventually("node B to report the bus down", || {
        let http = cluster.http.clone();
        let url = b.url("/readyz");
        async move {
            let r = http.get(&url).send().await.ok()?;
            let body: serde_json::Value = r.json().await.ok()?;
            (body["bus"] == "unreachable").then_some(())
        }
    })
    .await;
    // Sends still commit (the store is the truth) while the bus is down.
    for n in 10..20 {
        alice.send(&format!("a-{n}"), "during").await;
    }
    let redis = PrivateRedis::start(redis.port).await;
    for n in 20..30 {
        alice.send(&format!("a-{n}"), "after").await;
    }
    let (last_seq, ids) = cluster.store_view(&b.url(""), &bob_token, &room).await;
    assert_eq!(ids.len(), 31);
    // Bob, who never reconnected, gets every event in order: live, then filled from the store.
    bob.catch_up_to(last_seq).await;
    assert_eq!(bob.created, ids);
    assert_eq!(bob.reconnects, 0, "bob's socket stayed up");
    alice.catch_up_to(last_seq).await;
    assert_eq!(alice.created, ids);
    eventually("node B ready again", || {
        let http = cluster.http.clone();
        let url = b.url("/readyz");
        async move { (http.get(&url).send().await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    drop(redis);
}

/// A TCP proxy in front of PostgreSQL that can cut every connection and refuse new ones.
struct CuttableProxy {
    port: u16,
    open: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl CuttableProxy {
    async fn start(upstream: (String, u16)) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = watch::channel(0u64);
        let accepting = open.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !accepting.load(Ordering::SeqCst) {
                    let _ = client.shutdown().await;
                    continue;
                }
                let upstream = upstream.clone();
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                    // Dropping both ends closes them: the node sees its connection die.
                });
            }
        });
        CuttableProxy { port, open, cut }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn postgres_briefly_unreachable_fails_sends_clearly_then_recovers() {
    let db = crate::harness::pgdb::TestDatabase::create().await;
    let server = url_host_port(&db.url);
    let proxy = CuttableProxy::start(server).await;
    let proxied = db.url.replacen(
        &format!("{}:{}", url_host_port(&db.url).0, url_host_port(&db.url).1),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    let cluster = Cluster::start_on(
        db,
        ClusterOptions {
            nodes: 1,
            database_url: Some(proxied),
            ..Default::default()
        },
    )
    .await;
    let a = cluster.node(0);
    let (_, token) = cluster.guest(&a.url(""), "alice").await;
    let room = cluster.create_room(&a.url(""), &token, "Fragile").await;
    let mut ws = connect(&a.addr(), &token).await.unwrap();
    ws.resume(&room, None).await.unwrap();
    let send = |client_id: &str| json!({"type": "send", "room_id": room, "client_id": client_id, "body": client_id});
    ws.try_send(send("before")).await.unwrap();
    ws.expect_with("ack", |f| (f["type"] == "ack").then_some(()))
        .await;

    proxy.cut();
    let cut_at = Instant::now();
    ws.try_send(send("during")).await.unwrap();
    let answer = ws
        .expect_with("an answer to the send", |f| {
            (f["client_id"] == "during").then(|| f.clone())
        })
        .await;
    assert_eq!(
        answer["type"], "error",
        "no ack while the store is gone: {answer}"
    );
    assert_eq!(answer["code"], "unavailable", "{answer}");
    eprintln!(
        "send answered `unavailable` {:?} after the cut",
        cut_at.elapsed()
    );
    let ready = cluster.http.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "unreachable", "{body}");

    proxy.restore();
    // The same client_id again, as a client retrying its outbox would.
    let deadline = Instant::now() + WAIT;
    loop {
        ws.try_send(send("during")).await.unwrap();
        let answer = ws
            .expect_with("an answer to the retry", |f| {
                (f["client_id"] == "during").then(|| f.clone())
            })
            .await;
        if answer["type"] == "ack" {
            break;
        }
        assert_eq!(answer["code"], "unavailable", "{answer}");
        assert!(Instant::now() < deadline, "the store never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, ids) = cluster.store_view(&a.url(""), &token, &room).await;
    assert_eq!(ids.len(), 2, "before and during, once each");
    let ready = cluster.http.get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

/// ("host", port) of a postgres:// URL.
fn url_host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").unwrap().1;
    let hostport = rest.split('/').next().unwrap();
    let hostport = hostport.rsplit('@').next().unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (host.to_string(), port.parse().unwrap())
}
