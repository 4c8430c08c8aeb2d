#!/usr/bin/env bash
# Runs Palaver on its embedded defaults (SQLite in ./palaver-data, in-process bus) at
# http://127.0.0.1:8080, with the web UI built into the binary. Extra arguments go to `palaver`
# (see `palaver --help`; every flag is also a PALAVER_* variable).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build-web.sh
exec cargo run --release --bin palaver -- "$@"
