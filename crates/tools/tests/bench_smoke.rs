//! Small, bounded runs of `palaver-bench` so the tool can't rot: against a Palaver started in
//! process, and against `bench-broadcast`. They check that the tool and both servers agree on the
//! protocol and that the accounting adds up — never how fast anything is (that lives in
//! `scripts/bench` and docs/benchmarks.md, outside the test command's timing).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use palaver::{Application, Config};
use serde_json::Value;

/// Runs `palaver-bench` with `args` (bounded by its own `--deadline-secs`) and returns its JSON.
async fn bench(args: Vec<String>) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_palaver-bench"))
            .args(&args)
            .args([
                "--deadline-secs",
                "60",
                "--source-ips",
                "2",
                "--threads",
                "2",
            ])
            .output()
            .expect("palaver-bench runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "palaver-bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("one JSON document")
}

async fn spawn_palaver() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path());
    // The bench signs in many guests from one address and sends as fast as it can.
    config.rate_per_sec = 0;
    config.login_per_address_per_min = 0;
    config.guests_per_address_per_min = 0;
    config.guests_per_min = 0;
    let app = Application::build(config).await.expect("palaver starts");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    (url, dir)
}

/// Starts `bench-broadcast` on an ephemeral port; it is killed when the guard drops.
struct Bare(Child, String);

impl Bare {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bench-broadcast"))
            .args(["--listen", "127.0.0.1:0", "--threads", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("bench-broadcast starts");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().rsplit(' ').next().unwrap().to_string();
        Bare(child, format!("http://{addr}"))
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn fanout_args(url: &str) -> Vec<String> {
    // 20 subscribers, 10 messages: 200 deliveries, well under any per-user rate limit.
    strings(&[
        "fanout",
        "--url",
        url,
        "--subscribers",
        "20",
        "--rate",
        "10",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--drain",
        "10",
    ])
}

fn assert_every_delivery_arrived_once(result: &Value) {
    assert_eq!(result["connections"]["failed"], 0, "{result:#}");
    assert_eq!(result["messages"]["rate_limited"], 0, "{result:#}");
    assert_eq!(result["messages"]["acked"], 10, "{result:#}");
    let deliveries = &result["deliveries"];
    assert_eq!(deliveries["expected"], 200, "{result:#}");
    assert_eq!(deliveries["unique"], 200, "{result:#}");
    assert_eq!(deliveries["lost"], 0, "{result:#}");
    assert_eq!(deliveries["duplicates"], 0, "{result:#}");
    assert_eq!(deliveries["seq_regressions"], 0, "{result:#}");
    assert_eq!(deliveries["e2e_latency"]["count"], 200, "{result:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fanout_run_against_palaver_delivers_every_message_once() {
    let (url, _dir) = spawn_palaver().await;
    let result = bench(fanout_args(&url)).await;
    assert_every_delivery_arrived_once(&result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_persisted_sends_run_against_palaver_gets_every_send_acked() {
    let (url, _dir) = spawn_palaver().await;
    let result = bench(strings(&[
        "persisted-sends",
        "--url",
        &url,
        "--senders",
        "5",
        "--duration",
        "0.5",
        "--warmup",
        "0",
    ]))
    .await;
    let messages = &result["messages"];
    assert!(messages["acked"].as_u64().unwrap() > 0, "{result:#}");
    assert_eq!(messages["acked"], messages["sent"], "{result:#}");
    assert_eq!(messages["errors"], 0, "{result:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_server_speaks_enough_of_the_protocol_for_every_kind_of_run() {
    let bare = Bare::start();
    let pid = bare.0.id().to_string();
    let mut fanout = fanout_args(&bare.1);
    fanout.extend(strings(&["--server-pid", &pid]));
    let result = bench(fanout).await;
    assert_every_delivery_arrived_once(&result);
    assert!(
        result["server"]["rss_peak_kib"].as_u64().unwrap() > 0,
        "{result:#}"
    );

    let idle = bench(strings(&[
        "idle",
        "--url",
        &bare.1,
        "--connections",
        "50",
        "--mark",
        "25",
        "--hold",
        "0.2",
    ]))
    .await;
    assert_eq!(idle["connections"]["opened"], 50, "{idle:#}");
    assert!(idle["connect_mark"]["secs"].is_number(), "{idle:#}");

    let sends = bench(strings(&[
        "persisted-sends",
        "--url",
        &bare.1,
        "--senders",
        "5",
        "--duration",
        "0.3",
    ]))
    .await;
    assert_eq!(
        sends["messages"]["acked"], sends["messages"]["sent"],
        "{sends:#}"
    );
}
