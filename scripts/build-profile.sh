#!/usr/bin/env bash
# Builds one deployment profile's binaries (docs/DEPLOY.md), in release:
#   bash scripts/build-profile.sh robot  [--target aarch64-unknown-linux-gnu]   # robot-side nodes + lean launcher
#   bash scripts/build-profile.sh server [--target …]                           # every node + full launcher
#   bash scripts/build-profile.sh laptop [--target …]                           # same set as server
# Extra arguments go to cargo. The binaries land in $CARGO_TARGET_DIR (default target/)[/TARGET]/release/.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:?usage: build-profile.sh robot|server|laptop [cargo arguments]}
shift
# What runs on a robot computer: its sensors, action encoder, an Actor and renderer for its own view, the
# recorder, the ROS 2 and Zenoh bridges, and a Director for a robot that runs its world alone; the launcher
# without the neural engines, the CUDA path and dora's coordinator (a robot joins a fleet as `fleet daemon`).
robot_nodes=(worldflow-sensors worldflow-action-encoder worldflow-actor worldflow-director worldflow-splat-renderer
    worldflow-recorder worldflow-ros2-bridge worldflow-zenoh-bridge)
# A server or a laptop adds the neural path: DiT engine, VAE decoder, memory retriever (and the launcher's
# `model check`, and the coordinator). The CUDA path is loaded at run time, so a laptop without a GPU builds
# the same set: it costs compile time, nothing at run time.
neural_nodes=(worldflow-dit-engine worldflow-vae-decoder worldflow-memory-retriever)
args=()
case $profile in
    robot)
        for p in "${robot_nodes[@]}"; do args+=(-p "$p"); done
        args+=(-p worldflow --no-default-features)
        ;;
    server | laptop)
        for p in "${robot_nodes[@]}" "${neural_nodes[@]}" worldflow; do args+=(-p "$p"); done
        ;;
    *)
        echo "build-profile: unknown profile \`$profile\`: expected robot, server or laptop" >&2
        exit 2
        ;;
esac
if [[ " $* " == *" --target aarch64-unknown-linux-gnu "* || " $* " == *" --target=aarch64-unknown-linux-gnu "* ]]; then
    export CC_aarch64_unknown_linux_gnu=${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}
    export AR_aarch64_unknown_linux_gnu=${AR_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-ar}
fi
echo "== cargo build --release ${args[*]} $*" >&2
cargo build --release "${args[@]}" "$@"
