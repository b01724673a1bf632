#!/usr/bin/env bash
# Installs Debian's chromium for the web page's browser test (test/web.e2e.test.ts), which drives it
# through playwright-core; playwright never downloads a browser. Idempotent: does nothing when
# chromium is already there. Run as root on Debian (bookworm); prints the binary's path and version.
#   tools/ci/chromium.sh          # .ci/run, before npm test
set -euo pipefail

bin=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$bin" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "chromium.sh: $bin is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  nice -n 19 apt-get update -qq
  nice -n 19 apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -x "$bin" ]; then
  echo "chromium.sh: apt installed chromium but $bin is not there; set CHROMIUM_PATH" >&2
  exit 1
fi
echo "chromium.sh: $bin, $("$bin" --version 2>/dev/null | tail -1)" >&2
