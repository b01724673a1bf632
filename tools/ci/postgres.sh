#!/usr/bin/env bash
# PostgreSQL 15 + pgvector for the Postgres gallery store (src/gallery/postgres.ts), on Debian
# bookworm, run as root. Idempotent.
#
#   tools/ci/postgres.sh install          postgresql-15, postgresql-server-dev-15, pgvector 0.8.x
#   tools/ci/postgres.sh start DIR PORT   a throw-away cluster in DIR on 127.0.0.1:PORT; prints its URL
#                                         (extra server settings: ARCFACE_PG_SETTINGS="-c shared_buffers=4GB")
#   tools/ci/postgres.sh stop DIR         stops it (DIR is left for the caller to remove)
#
# Bookworm has no pgvector binary package, so `install` builds it from Debian's own source package
# (trixie's pgvector 0.8.x). Rather than adding a deb-src line to /etc/apt and removing it again, apt
# runs here with a private sources file and a private lists folder in a temporary directory
# (Dir::Etc::SourceList / SourceParts / Dir::State::Lists): the machine's apt configuration and
# package lists are never touched, and nothing is left behind if the script is killed half-way. The
# source is still authenticated: apt checks the trixie Release signature with the archive keyring the
# machine's own sources name (Signed-By) and the downloaded files against its hashes.
# `make OPTFLAGS=""` drops pgvector's -march=native, so the library runs on any x86-64.
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGVECTOR_SERIES=0.8

log() { echo "postgres.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

pgvector_installed() {
  local control=/usr/share/postgresql/$PG_MAJOR/extension/vector.control
  [[ -f $control && -f /usr/lib/postgresql/$PG_MAJOR/lib/vector.so ]] &&
    grep -q "^default_version = '$PGVECTOR_SERIES\." "$control"
}

# The machine's Debian mirror and keyring, from its deb822 or one-line sources.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' "$f"
  done | head -n 1
  grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '$0 !~ /\[/ && $2 ~ /\/debian\/?$/ { print $2 }' | head -n 1
  true # no match (or no such file) is not an error: the caller falls back to deb.debian.org
}

debian_keyring() {
  local k
  k=$(grep -hs '^Signed-By:' /etc/apt/sources.list.d/*.sources | awk '{ print $2 }' | head -n 1 || true)
  [[ -n $k && -f $k ]] && echo "$k" || echo /usr/share/keyrings/debian-archive-keyring.gpg
}

install() {
  [[ $(id -u) -eq 0 ]] || die "install must run as root"
  local t0 t1 t2
  t0=$(date +%s)
  if ! dpkg -s postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR >/dev/null 2>&1; then
    log "installing postgresql-$PG_MAJOR and postgresql-server-dev-$PG_MAJOR"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR make gcc >/dev/null
  fi
  t1=$(date +%s)
  log "packages ready in $((t1 - t0)) s"
  if pgvector_installed; then
    log "pgvector $(awk -F"'" '/default_version/ { print $2 }' \
      /usr/share/postgresql/$PG_MAJOR/extension/vector.control) already installed"
    return
  fi

  local mirror keyring work
  mirror=$(debian_mirror | head -n 1)
  [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
  keyring=$(debian_keyring)
  work=$(mktemp -d /tmp/arcface-pgvector.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  mkdir -p "$work/lists/partial" "$work/src" "$work/parts"
  # apt downloads as the unprivileged _apt user when it can write there (its sandbox).
  chmod 755 "$work"
  if id _apt >/dev/null 2>&1; then chown -R _apt "$work/lists" "$work/src"; fi
  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
    "$mirror" "$keyring" >"$work/trixie-src.sources"
  local apt_private=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::State::Lists=$work/lists"
    -o "APT::Get::List-Cleanup=false"
  )
  mv "$work/trixie-src.sources" "$work/parts/"
  log "fetching Debian's pgvector source package (trixie, $mirror)"
  apt-get "${apt_private[@]}" update -qq
  (cd "$work/src" && apt-get "${apt_private[@]}" source --download-only -qq pgvector)
  local orig
  orig=$(ls "$work"/src/pgvector_"$PGVECTOR_SERIES".*.orig.tar.* 2>/dev/null | head -n 1)
  [[ -n $orig ]] || die "no pgvector $PGVECTOR_SERIES.x source in trixie (found: $(ls "$work/src"))"
  tar -xf "$orig" -C "$work/src"
  local dir
  dir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  t2=$(date +%s)
  log "source $(basename "$orig") in $((t2 - t1)) s; building"
  make -s -C "$dir" PG_CONFIG=$PG_BIN/pg_config OPTFLAGS="" >/dev/null
  make -s -C "$dir" PG_CONFIG=$PG_BIN/pg_config OPTFLAGS="" install >/dev/null
  pgvector_installed || die "pgvector build finished but vector.control/vector.so are missing"
  log "pgvector built and installed in $(($(date +%s) - t2)) s (total $(($(date +%s) - t0)) s)"
  rm -rf "$work"
  trap - EXIT
}

# Runs a command as the postgres user (PostgreSQL refuses to run as root).
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir=${1:?usage: postgres.sh start DIR PORT} port=${2:?usage: postgres.sh start DIR PORT}
  [[ $port =~ ^[0-9]+$ ]] || die "start: PORT must be a number, got '$port'"
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  if [[ ! -f $dir/PG_VERSION ]]; then
    # trust for local test use only: the cluster listens on 127.0.0.1 and is thrown away.
    as_postgres "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    # The socket goes into DIR too: /var/run/postgresql may not exist (no system cluster).
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off ${ARCFACE_PG_SETTINGS:-}" \
      start >/dev/null || {
      tail -n 20 "$dir/server.log" >&2
      die "start: the cluster in $dir did not start"
    }
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
  local dir=${1:?usage: postgres.sh stop DIR}
  [[ -f $dir/PG_VERSION ]] || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1 || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$dir" -w -t 60 -m fast stop >/dev/null
}

case ${1:-} in
  install) install ;;
  start) start "${2:-}" "${3:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: $0 install | start DIR PORT | stop DIR" ;;
esac
