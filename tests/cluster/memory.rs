//! Memory goes back after a burst (issue 23 item 10): the real binary serves 2,000 concurrent
//! long-polls, and its resident memory returns to near where it started. Before the fix glibc's
//! malloc kept the freed pages (+29 to +41 MiB after 2,000, +110 MiB after 5,000, for good); see
//! docs/benchmarks.md.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::Node;

const POLLS: usize = 2000;
/// How far above its starting RSS the server may stay once the burst is over.
const SLACK_KIB: u64 = 12 * 1024;
/// The node returns freed memory every 10 s; this leaves room for a slow machine.
const SETTLE: Duration = Duration::from_secs(40);

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

async fn long_poll(addr: String, request: String) -> bool {
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    answer.starts_with(b"HTTP/1.1 200")
}

#[tokio::test]
async fn memory_returns_after_two_thousand_long_polls() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::embedded(dir.path(), "polled");
    // One client address opens every connection.
    node.set_env("PALAVER_MAX_CONNECTIONS_PER_ADDRESS", "0");
    node.start().await;
    let pid = node.pid().expect("running");
    let rest = palaver_client::Rest::new(&node.url(""));
    let session = rest.guest("poller").await.expect("a guest");
    let (_, rooms) = rest.get("/api/rooms", Some(&session.token)).await.unwrap();
    let room = &rooms[0];
    let request = format!(
        "GET /api/rooms/{}/events?after={}&wait=2 HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
        room["id"].as_str().unwrap(),
        room["last_seq"],
        session.token
    );
    let start = rss_kib(pid);
    let polls: Vec<_> = (0..POLLS)
        .map(|_| tokio::spawn(long_poll(node.addr(), request.clone())))
        .collect();
    let mut answered = 0;
    for poll in polls {
        answered += usize::from(poll.await.unwrap());
    }
    assert_eq!(answered, POLLS, "every long-poll is answered 200");
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = rss_kib(pid);
        if now <= start + SLACK_KIB {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS still {now} KiB, {} KiB over the {start} KiB it started at",
            now - start
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.stop().await;
}
