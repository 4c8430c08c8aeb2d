//! A short, small run of `palaver-soak` against a Palaver started in process, so the tool can't
//! rot: it checks that the soak and the server agree on the protocol and that a clean server
//! passes (no violation, no leak). The long run is `scripts/soak` (docs/soak.md).

use std::process::Command;

use palaver::{Application, Config};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_against_palaver_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(dir.path());
    // The soak signs in its guests from one address and retries sends at once.
    config.rate_per_sec = 0;
    config.login_per_address_per_min = 0;
    config.guests_per_address_per_min = 0;
    config.guests_per_min = 0;
    let app = Application::build(config).await.expect("palaver starts");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    // The server runs in this process: its RSS and descriptors are this process's.
    let pid = std::process::id().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_palaver-soak"))
            .args(["--url", &url, "--server-pid", &pid, "--seed", "7"])
            .args([
                "--duration-secs",
                "3",
                "--warmup-secs",
                "1",
                "--sample-secs",
                "1",
            ])
            .args(["--clients", "4", "--rooms", "2", "--rate", "4"])
            .output()
            .expect("palaver-soak runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "palaver-soak failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(result["pass"], true, "{result:#}");
    assert_eq!(result["violations"], 0, "{result:#}");
    assert!(result["acked"].as_u64().unwrap() > 0, "{result:#}");
}
