#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy (-D warnings), docs (-D warnings), and all tests
# (unit, doc, trybuild ui-tests, integration tests with the JS and Rust socket.io clients).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test"
cargo test --workspace --locked
