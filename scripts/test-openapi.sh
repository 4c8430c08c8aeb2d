#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document (issue 23 item 11): Schemathesis (PyPI,
# pinned) generates valid and invalid requests for every operation the document lists, against
# the real binary on a fresh SQLite data dir, and fails on any 5xx, any status the document does
# not list for that operation, any answer whose content type or body does not match the
# documented schema, any request that breaks the document's rules and is still accepted (2xx),
# or the server not answering (or having panicked) afterwards. Endpoints added later are fuzzed too:
# the run reads /api/openapi.json and nothing else about the API.
#
#   scripts/test-openapi.sh                       # the binary at target/debug/palaver
#   PALAVER_BIN=… PALAVER_FUZZ_EXAMPLES=100 PALAVER_FUZZ_SEED=7 scripts/test-openapi.sh
#   PALAVER_FUZZ_REPORT=/tmp/fuzz scripts/test-openapi.sh   # also every request and answer (VCR)
#
# Signs up one account first and sends its bearer token with every request whose operation
# names the `bearer` security scheme (scripts/openapi-fuzz/schemathesis.toml). POST
# /api/auth/logout is left out: it would end that session for the rest of the run (its 401 and
# 204 are covered by the API tests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=${PALAVER_BIN:-$root/target/debug/palaver}
examples=${PALAVER_FUZZ_EXAMPLES:-100}
seed=${PALAVER_FUZZ_SEED:-23}
version=4.32.5
venv=${XDG_CACHE_HOME:-$HOME/.cache}/palaver-schemathesis-$version

if [[ ! -x $venv/bin/st ]]; then
  echo "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
[[ -x $bin ]] || { echo "no server binary at $bin (cargo build --bin palaver)" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# Sign-in limits off: the fuzzer signs in far more often than a person (the limits have their
# own tests). Everything else as shipped.
PALAVER_LISTEN=127.0.0.1:$port PALAVER_DATA_DIR=$work/data PALAVER_LOGIN_PER_ADDRESS_PER_MIN=0 \
  RUST_LOG=warn "$bin" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.2
done

password="fuzz $(python3 -c 'import secrets; print(secrets.token_urlsafe(12))') staple"
token=$(curl -fs -X POST "$base/api/auth/register" -H 'Content-Type: application/json' \
  -d "{\"username\":\"fuzzer\",\"password\":\"$password\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
room=$(curl -fs "$base/api/rooms" -H "Authorization: Bearer $token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
message=$(curl -fs -X POST "$base/api/rooms/$room/messages" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"client_id":"fuzz-1","body":"a message to edit, move and delete"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

fuzz() {
  PALAVER_FUZZ_TOKEN=$token PALAVER_FUZZ_ROOM=$room PALAVER_FUZZ_MESSAGE=$message \
    SCHEMATHESIS_HOOKS="$root/scripts/openapi-fuzz/hooks.py" \
    "$venv/bin/st" --config-file "$root/scripts/openapi-fuzz/schemathesis.toml" \
    run "$base/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
    --exclude-path /api/auth/logout \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" --seed "$seed" --generation-database none \
    --generation-with-security-parameters false \
    --workers 2 --request-timeout 20 --no-color --output-sanitize false \
    ${PALAVER_FUZZ_REPORT:+--report vcr --report-dir "$PALAVER_FUZZ_REPORT"}
}

status=0
fuzz 2>&1 | tee "$work/fuzz.log" || status=$?
# The tool itself can crash, not on anything the server answered: Hypothesis describing one of
# its own lambdas trips a CPython 3.11 parser bug now and then ("AST constructor recursion depth
# mismatch", seen once in CI on 2026-12-06; the same seed passed on the rerun). That one crash,
# and only it, gets one more run; anything the server did wrong still fails.
if [[ $status -ne 0 ]] && grep -q "AST constructor recursion depth mismatch" "$work/fuzz.log"; then
  echo "Schemathesis crashed inside Hypothesis (CPython ast bug), not on a response: running it once more" >&2
  status=0
  fuzz || status=$?
fi

# The server survived: it still answers, and it logged no panic.
if ! curl -fs "$base/healthz" >/dev/null; then
  echo "the server stopped answering during the fuzz run" >&2
  status=1
fi
if grep -q "panicked" "$work/server.log"; then
  echo "the server panicked during the fuzz run:" >&2
  grep -B2 -A10 "panicked" "$work/server.log" >&2
  status=1
fi
exit $status
