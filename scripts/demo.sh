#!/usr/bin/env bash
# The chat demo, embedded single-node mode: installs what it needs (Node.js + npm from Debian's
# packages when missing, then the page's socket.io client pinned by examples/chat/web's lockfile)
# and runs `cargo run --release --example chat`. Open http://127.0.0.1:3000 (or $HOST:$PORT).
#
# Settings pass through the environment: PORT, HOST, TETHER_KEY, NOTIFY_SECRET (what
# POST /api/notify/{user} needs as `Authorization: Bearer ..`; printed once at start when unset),
# TOKEN_TTL_SECS, TOKEN_GRACE_SECS, REDIS_URL, RUST_LOG (see the README's demo section), e.g.
#   PORT=8080 TETHER_KEY=$(head -c32 /dev/urandom | basenc --base64url | tr -d =) scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is missing: install Rust with rustup (https://rustup.rs); rust-toolchain.toml pins the version" >&2
  exit 1
fi

need_apt=()
need_openssl
need_node
apt_install "${need_apt[@]}"
install_npm examples/chat/web

echo "demo: building and starting the chat server (first build takes a few minutes)"
exec cargo run --release --example chat
