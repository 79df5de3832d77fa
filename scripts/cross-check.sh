#!/usr/bin/env bash
# aarch64 (robot computers: Jetson Orin, Raspberry Pi 5): cross-build from x86 and run the kernel and engine test
# suites under qemu-user; then build the robot profile's binaries (docs/DEPLOY.md) for aarch64.
#   bash scripts/cross-check.sh                 # clippy + tests under qemu + robot binaries
#   bash scripts/cross-check.sh -p worldflow-gemm   # one crate's clippy + tests only
# Correctness only: timings under qemu mean nothing (NEON speed needs an ARM board).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --cross
target=aarch64-unknown-linux-gnu
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# The portable, NEON and scalar paths are all compiled for aarch64: no x86 code path can hide a NEON bug.
suites=(-p worldflow-base -p worldflow-gemm -p worldflow-splat -p worldflow-protocol -p worldflow-memory
    -p worldflow-world -p worldflow-dit -p worldflow-vae)
if [[ $# -gt 0 ]]; then packages=("$@"); else packages=("${suites[@]}"); fi

echo "== cargo clippy --target $target ${packages[*]} -- -D warnings" >&2
cargo clippy --release --target "$target" "${packages[@]}" --all-targets -- -D warnings
echo "== cargo test --target $target (under qemu-aarch64) ${packages[*]}" >&2
cargo test --release --target "$target" "${packages[@]}"
if [[ $# -eq 0 ]]; then
    echo "== robot profile for $target (docs/DEPLOY.md)" >&2
    bash scripts/build-profile.sh robot --target "$target"
fi
