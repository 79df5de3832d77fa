#!/usr/bin/env bash
# aarch64 (robot computers: Jetson Orin, Raspberry Pi 5): cross-build from x86 and run the kernel and engine test
# suites under qemu-user (what CI runs, through scripts/test.sh); `--robot` also builds the robot profile's
# binaries for aarch64 (docs/DEPLOY.md; the dora stack: ~20+ minutes cold on 2 cores, so not in CI).
#   bash scripts/cross-check.sh                       # clippy -D warnings + tests under qemu-aarch64
#   bash scripts/cross-check.sh --robot               # … then the robot profile for aarch64
#   bash scripts/cross-check.sh -p worldflow-gemm     # one crate's clippy + tests
# Correctness only: timings under qemu mean nothing (NEON speed needs an ARM board).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --cross
target=aarch64-unknown-linux-gnu
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
robot=false
if [[ ${1:-} == --robot ]]; then
    robot=true
    shift
fi
# The crates with SIMD kernels or numeric goldens, and the pure logic under the nodes. On aarch64 the NEON and
# portable paths are compiled and tested; no x86 path can hide a NEON bug.
suites=(-p worldflow-base -p worldflow-gemm -p worldflow-splat -p worldflow-protocol -p worldflow-memory
    -p worldflow-world -p worldflow-dit -p worldflow-vae)
if [[ $# -gt 0 ]]; then packages=("$@"); else packages=("${suites[@]}"); fi

echo "== cargo clippy --release --target $target ${packages[*]} --all-targets -- -D warnings" >&2
cargo clippy --release --target "$target" "${packages[@]}" --all-targets -- -D warnings
echo "== cargo test --release --target $target ${packages[*]} (under qemu-aarch64)" >&2
cargo test --release --target "$target" "${packages[@]}"
if $robot; then
    bash scripts/build-profile.sh robot --target "$target"
fi
