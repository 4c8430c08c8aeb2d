//! Every input in the committed fuzz corpora (`fuzz/corpus/<target>/`) and every input that once
//! crashed a target (`fuzz/regressions/<target>/`) runs through the same check its fuzz target
//! runs (`palaver_fuzz_checks`), so what the fuzzer learned stays tested in the normal test run.
//! `scripts/fuzz` runs the fuzzer itself for longer.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    // `fuzz/checks/..`: the fuzz crate, whose corpora these are.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn run(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.len() >= 5,
        "the {target} corpus is missing ({} files)",
        files.len()
    );
    for path in &files {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {} fails its check", path.display());
        }
    }
    eprintln!("{target}: {} inputs pass", files.len());
}

#[test]
fn client_frame_corpus() {
    run("client_frame", palaver_fuzz_checks::client_frame);
}

#[test]
fn rest_body_corpus() {
    run("rest_body", palaver_fuzz_checks::rest_body);
}

#[test]
fn position_keys_corpus() {
    run("position_keys", palaver_fuzz_checks::position_keys);
}
