#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain. Idempotent; called by .ci/run and the README.
# Today: nothing beyond cargo, gcc, make and perl (the dora stack vendors OpenSSL and builds it with them).
set -euo pipefail
missing=()
for tool in cargo cc make perl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ ${missing[*]} == cargo ]]; then
        echo "setup: cargo not found: install Rust with rustup first" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]} from Debian packages" >&2
    apt-get update -qq && apt-get install -y -qq build-essential perl
fi

# NVRTC (the CUDA run-time compiler, no GPU needed) for engines/dit-cuda's test that compiles every kernel
# to PTX/CUBIN. From PyPI into .cache/nvrtc (git-ignored), only when missing; the test says plainly when
# it cannot find it. About 90 MB download, ~10-30 s once; seconds afterwards.
NVRTC_VERSION=12.9.86
nvrtc_dir="$(cd "$(dirname "$0")/.." && pwd)/.cache/nvrtc"
if [[ ! -f $nvrtc_dir/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 || ! -f $nvrtc_dir/.version-$NVRTC_VERSION ]]; then
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        echo "setup: installing nvidia-cuda-nvrtc-cu12==$NVRTC_VERSION into $nvrtc_dir" >&2
        rm -rf "$nvrtc_dir"
        if python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target "$nvrtc_dir" \
            "nvidia-cuda-nvrtc-cu12==$NVRTC_VERSION"; then
            touch "$nvrtc_dir/.version-$NVRTC_VERSION"
        else
            echo "setup: warning: could not install NVRTC; the dit-cuda kernel compile test will say it did not run" >&2
        fi
    else
        echo "setup: warning: no python3 -m pip; the dit-cuda kernel compile test will say it did not run" >&2
    fi
fi

# rosbags (pure-Python ROS 2 message types and CDR, no ROS install) for kernels/ros2-msgs' test that checks our CDR
# bytes against its Jazzy typestore. From PyPI into the project-local venv .cache/py (git-ignored), pinned, only
# when missing; the test says plainly when it cannot find it (and fails under CI).
ROSBAGS_VERSION=0.11.9
py_dir="$(cd "$(dirname "$0")/.." && pwd)/.cache/py"
if [[ ! -x $py_dir/bin/python || ! -f $py_dir/.version-rosbags-$ROSBAGS_VERSION ]]; then
    if command -v python3 >/dev/null 2>&1 && python3 -m venv --help >/dev/null 2>&1; then
        echo "setup: installing rosbags==$ROSBAGS_VERSION into $py_dir" >&2
        if { [[ -x $py_dir/bin/python ]] || python3 -m venv "$py_dir"; } &&
            "$py_dir/bin/python" -m pip install --quiet --disable-pip-version-check "rosbags==$ROSBAGS_VERSION"; then
            rm -f "$py_dir"/.version-rosbags-*
            touch "$py_dir/.version-rosbags-$ROSBAGS_VERSION"
        else
            echo "setup: warning: could not install rosbags; the ros2-msgs CDR reference test will say it did not run" >&2
        fi
    else
        echo "setup: warning: no python3 -m venv; the ros2-msgs CDR reference test will say it did not run" >&2
    fi
fi

# cyclonedds (the Python binding of Eclipse Cyclone DDS, the DDS under rmw_cyclonedds_cpp; the manylinux wheel
# bundles the C library) for the ros2-bridge live test: an independent DDS peer that subscribes to the
# bridge's topics inside a network namespace. Same venv, pinned, only when missing; the test says plainly when
# it cannot find it (and fails under CI).
CYCLONEDDS_VERSION=11.0.1
if [[ -x $py_dir/bin/python && ! -f $py_dir/.version-cyclonedds-$CYCLONEDDS_VERSION ]]; then
    echo "setup: installing cyclonedds==$CYCLONEDDS_VERSION into $py_dir" >&2
    if "$py_dir/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        "cyclonedds==$CYCLONEDDS_VERSION"; then
        rm -f "$py_dir"/.version-cyclonedds-*
        touch "$py_dir/.version-cyclonedds-$CYCLONEDDS_VERSION"
    else
        echo "setup: warning: could not install cyclonedds; the ros2-bridge live test will say it did not run" >&2
    fi
fi

# eclipse-zenoh (the Zenoh Python API, `import zenoh`; the wheel bundles the Rust zenoh core, shared memory included)
# for the zenoh-bridge live test: an independent Zenoh peer that connects to the bridge on loopback, receives
# frames, watches the agents' liveliness and sends actions. 1.10.x, the version of the Rust zenoh dora builds
# (1.10.2). Same venv, pinned, only when missing; the test says plainly when it cannot find it (and fails under CI).
ZENOH_PY_VERSION=1.10.2
if [[ -x $py_dir/bin/python && ! -f $py_dir/.version-eclipse-zenoh-$ZENOH_PY_VERSION ]]; then
    echo "setup: installing eclipse-zenoh==$ZENOH_PY_VERSION into $py_dir" >&2
    if "$py_dir/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        "eclipse-zenoh==$ZENOH_PY_VERSION"; then
        rm -f "$py_dir"/.version-eclipse-zenoh-*
        touch "$py_dir/.version-eclipse-zenoh-$ZENOH_PY_VERSION"
    else
        echo "setup: warning: could not install eclipse-zenoh; the zenoh-bridge live test will say it did not run" >&2
    fi
fi

# mcap (the MCAP format authors' Python reader) for kernels/rosbag2's test that validates the raw MCAP files our
# rosbag2 writer makes: records, chunk and summary indexes, CRCs. Same venv, pinned, only when missing; the test
# says plainly when it cannot find it (and fails under CI).
MCAP_VERSION=1.6.0
if [[ -x $py_dir/bin/python && ! -f $py_dir/.version-mcap-$MCAP_VERSION ]]; then
    echo "setup: installing mcap==$MCAP_VERSION into $py_dir" >&2
    if "$py_dir/bin/python" -m pip install --quiet --disable-pip-version-check "mcap==$MCAP_VERSION"; then
        rm -f "$py_dir"/.version-mcap-*
        touch "$py_dir/.version-mcap-$MCAP_VERSION"
    else
        echo "setup: warning: could not install mcap; the rosbag2 MCAP reference test will say it did not run" >&2
    fi
fi

# The aarch64 cross toolchain (scripts/cross-check.sh, docs/DEPLOY.md), only with `--cross`: the Rust standard
# library for aarch64-unknown-linux-gnu (rustup), Debian's cross gcc and C library (linker, and the C compiler of
# -sys crates), and qemu-user to run the test binaries (.cargo/config.toml names both). Only what is missing.
if [[ ${1:-} == --cross ]]; then
    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        echo "setup: rustup target add aarch64-unknown-linux-gnu" >&2
        rustup target add aarch64-unknown-linux-gnu
    fi
    if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1 ||
        [[ ! -f /usr/aarch64-linux-gnu/include/stdio.h ]]; then
        echo "setup: installing gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user from Debian packages" >&2
        apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; }
    fi
fi
