#!/usr/bin/env bash
# Runs a command with a throw-away PostgreSQL + pgvector: installs PostgreSQL 15 + pgvector
# (tools/ci/postgres.sh, skipped when present), starts a cluster on a free 127.0.0.1 port as the
# postgres user, runs the command with ARCFACE_TEST_POSTGRES_URL set, then stops and removes the
# cluster (also on failure or Ctrl-C). Run as root on Debian bookworm.
#   tools/ci/with_postgres.sh npm test      # .ci/run: the whole suite, Postgres half included
#   tools/ci/with_postgres.sh               # just the Postgres store tests
set -euo pipefail
cd "$(dirname "$0")/../.."
pgsh=tools/ci/postgres.sh

t0=$(date +%s)
"$pgsh" install
t1=$(date +%s)

dir=$(mktemp -d /tmp/arcface-pg.XXXXXX)
cleanup() {
  "$pgsh" stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT

# A free port: bind port 0 and take what the kernel gives (free a moment later; initdb is not that fast
# for another process to take it in between on a CI machine).
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
url=$("$pgsh" start "$dir" "$port")
t2=$(date +%s)
echo "with_postgres.sh: install $((t1 - t0)) s, cluster start $((t2 - t1)) s, $url" >&2

if [ $# -eq 0 ]; then set -- node --import tsx --test test/gallery.postgres.test.ts; fi
ARCFACE_TEST_POSTGRES_URL=$url "$@"
echo "with_postgres.sh: $* took $(($(date +%s) - t2)) s" >&2
