#!/usr/bin/env bash
# The test command (README, `.ci/run`): set-up, then exactly what CI checks, in the order that fails fastest.
#   1. style:   cargo fmt --all --check
#   2. lints:   cargo clippy --workspace --all-targets -- -D warnings   (policy: [workspace.lints] in Cargo.toml)
#   3. layering: no module cycle inside any crate (../shared/tools/mod_cycles.py, beside every clone in CI)
#   4. build every binary (the graphs spawn them), then every test, in release.
#   5. aarch64: the lean robot launcher's lints, then the kernel and engine suites cross-built and run under
#      qemu-user (scripts/cross-check.sh; docs/DEPLOY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== cargo fmt --all --check" >&2
cargo fmt --all --check

echo "== cargo clippy --workspace --all-targets -- -D warnings" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo clippy -p worldflow --no-default-features -- -D warnings (the robot profile's launcher)" >&2
cargo clippy -p worldflow --no-default-features --all-targets -- -D warnings

cycles_tool=../shared/tools/mod_cycles.py
if [[ -f $cycles_tool ]]; then
    echo "== module cycles ($cycles_tool)" >&2
    python3 "$cycles_tool" .
elif [[ -n ${CI:-} ]]; then
    echo "test: CI is set but $cycles_tool is missing (CI always has ../shared beside the clone)" >&2
    exit 1
else
    echo "test: $cycles_tool not found: module-cycle check skipped (it runs in CI)" >&2
fi

echo "== build and test (release)" >&2
cargo build --release --workspace --bins
cargo test --release --workspace

echo "== aarch64 (scripts/cross-check.sh)" >&2
bash scripts/cross-check.sh
