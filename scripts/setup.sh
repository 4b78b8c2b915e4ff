#!/usr/bin/env bash
# Installs what tether's tests and demo need beyond the Rust toolchain: pkg-config and the OpenSSL
# headers (josekit builds against OpenSSL), Node.js + npm (for the
# official socket.io-client and jose), redis-server (cluster tests start their own on free ports,
# plain, over TLS and with Sentinel), the openssl CLI (the TLS tests generate their certificates),
# Chromium (the chat demo's browser test drives Debian's /usr/bin/chromium with playwright-core),
# the npm packages pinned by the lockfiles of tests/js, tests/browser and examples/chat/web, and
# python-socketio (pinned by tests/python/requirements.txt) in a virtualenv for the Python test.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_apt=()
need_openssl
need_node
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
apt_install "${need_apt[@]}"
warn_old_node 20

install_npm tests/js
install_npm tests/browser
install_npm examples/chat/web
install_venv tests/python
