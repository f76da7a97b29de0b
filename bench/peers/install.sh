#!/usr/bin/env bash
# Installs the benchmark peers (Emmett's SQLite and PostgreSQL stores) into bench/peers/node_modules.
# They live in their own package with their own lock file so Causeway's tree never depends on them:
# emmett-sqlite@0.42.4 declares a peer emmett@0.42.4 that was never published (hence
# --legacy-peer-deps, also set in .npmrc), and its `sqlite3` dependency compiles from source
# (one to three minutes). Safe to re-run; skips the work when node_modules matches the lock file.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")"
stamp=node_modules/.package-lock.json
if [[ -f $stamp && $stamp -nt package-lock.json && -f node_modules/sqlite3/build/Release/node_sqlite3.node ]]; then
  echo "bench/peers: already installed"
  exit 0
fi
npm ci --legacy-peer-deps --no-audit --no-fund
