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
