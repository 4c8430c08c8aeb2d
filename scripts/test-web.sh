#!/usr/bin/env bash
# The web UI's checks: type check, lint, unit tests, then browser tests in Debian's Chromium
# against the real server binary (PALAVER_BIN, default target/debug/palaver, built beforehand).
# Installs what it needs: Chromium from apt, npm packages with `npm ci` (no browser downloads).
# E2E screenshots (desktop light, desktop dark, phone) land in e2e/screenshots/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PALAVER_BIN="${PALAVER_BIN:-$root/target/debug/palaver}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [[ ! -x /usr/bin/chromium ]]; then
  echo "test-web: installing Debian chromium"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

npm_ci_if_needed() {
  local dir="$1"
  if [[ ! -d "$dir/node_modules" || "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    echo "test-web: npm ci in ${dir#"$root"/}"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
}
npm_ci_if_needed "$root/web"
npm_ci_if_needed "$root/e2e"

cd "$root/web"
echo "test-web: tsc --noEmit (web)"
npx --no-install tsc --noEmit
echo "test-web: eslint (web)"
npx --no-install eslint --max-warnings 0 .
echo "test-web: vitest"
npx --no-install vitest run

# The debug binary serves web/dist from disk: make sure it is the current build.
bash "$root/scripts/build-web.sh"

cd "$root/e2e"
echo "test-web: tsc --noEmit (e2e)"
npx --no-install tsc --noEmit
if [[ ! -x "$PALAVER_BIN" ]]; then
  echo "test-web: server binary $PALAVER_BIN not found; build it first (cargo build)" >&2
  exit 1
fi
echo "test-web: playwright (e2e) against $PALAVER_BIN"
npx --no-install playwright test
