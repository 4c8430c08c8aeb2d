#!/usr/bin/env bash
# Every check and test of Palaver, on a fresh machine of this kind: installs what it needs
# (Debian's Chromium and nginx, npm packages, s3s-fs: an S3-compatible server), starts PostgreSQL
# and Redis if they are installed but stopped, then runs formatting, lints, the Rust tests (unit,
# API, store conformance on SQLite and PostgreSQL, files on an S3 bucket, cluster), smoke runs of
# the cluster fan-out and history benchmarks, a schema-driven fuzz of the REST API from its
# OpenAPI document (Schemathesis, pip-installed into ~/.cache) and the web UI's checks and
# browser tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

step "services: PostgreSQL and Redis"
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 50); do
  pg_isready -h 127.0.0.1 -q 2>/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 0.2
done

step "system packages: chromium, nginx"
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

step "s3s-fs: the S3-compatible server the S3 file store's tests start"
# The s3s project's file-system server (Apache-2.0), built once into ~/.cargo/bin (a few minutes
# on two cores the first time; cached after). 0.14.1 is the newest whose rust-version fits 1.95.
if ! command -v s3s-fs >/dev/null 2>&1 && [[ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]]; then
  cargo install s3s-fs --version 0.14.1 --features binary --locked
fi

step "web UI build (once; the debug binary serves web/dist from disk)"
bash scripts/build-web.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings (the whole workspace: server, client, tools, fuzz checks)"
cargo clippy --workspace --all-targets -- -D warnings

step "Rust tests (the whole workspace)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# The browser tests run the debug server binary (the cluster tests built it already; make sure).
cargo build --bin palaver --bin palaver-bench

step "cluster fan-out smoke: one node beside two on PostgreSQL + Redis, 50 subscribers, 2 s (scripts/bench-cluster)"
BENCH_SMOKE=1 BENCH_NO_BUILD=1 python3 scripts/bench-cluster

step "history benchmark smoke: seeds 6,000 messages, pages, windows, resumes, a resync"
BENCH_SMOKE=1 BENCH_BIN="$root/target/debug" BENCH_NO_BUILD=1 BENCH_OUT="$root/target/bench-results/history-smoke" \
  BENCH_PALAVER_PORT=18089 bash scripts/bench-history

step "reconnect storm smoke: 3 nodes on PostgreSQL + Redis, 200 clients, node A killed (SIGKILL)"
STORM_BIN="$root/target/debug" bash scripts/bench-storm --smoke

step "crowd smoke: 600 sockets over 2 nodes on PostgreSQL + Redis, a big room across both (scripts/bench-crowd)"
CROWD_BIN="$root/target/debug" bash scripts/bench-crowd --smoke

step "long-poll cost smoke: 20 live pollers beside 20 sockets, 10 msg/s, 2 s (scripts/longpoll-cost.py)"
python3 scripts/longpoll-cost.py "$root/target/debug" --listeners 20 --rate 10 --seconds 2 --warmup 1

step "OpenAPI fuzz: Schemathesis from the server's own document against target/debug/palaver"
PALAVER_BIN="$root/target/debug/palaver" bash scripts/test-openapi.sh

step "web UI: tsc, lint, unit tests, browser tests (against target/debug/palaver)"
PALAVER_BIN="$root/target/debug/palaver" bash scripts/test-web.sh
