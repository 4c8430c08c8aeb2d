#!/usr/bin/env bash
# Builds the web UI into web/dist, but only when it is missing or stale.
#
# "Stale" means: the hash of everything the build reads (web/src, web/public, index.html, the package files,
# the configs) differs from the hash recorded at the last successful build (web/.dist-hash).
# Installs the npm packages (npm ci, pinned by package-lock.json) when node_modules is missing or
# older than the lock file. The palaver binary embeds web/dist (read from disk in debug builds).
set -euo pipefail

web="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
cd "$web"

stamp=.dist-hash
hash="$(
  { find src public -type f -print; printf '%s\n' index.html package.json package-lock.json vite.config.ts tsconfig.json; } \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
)"

if [[ -f dist/index.html && -f "$stamp" && "$(cat "$stamp")" == "$hash" && "${FORCE_WEB_BUILD:-}" != "1" ]]; then
  echo "build-web: web/dist is up to date"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "build-web: npm is required to build the web UI (Node.js 20+)" >&2
  exit 1
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "build-web: npm ci"
  npm ci --no-audit --no-fund
fi

echo "build-web: npm run build"
npm run build
echo "$hash" > "$stamp"
