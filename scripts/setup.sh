#!/usr/bin/env bash
# Prepare this machine (fresh Debian 12, as root) for the lab and the tests.
# Idempotent: installs only what is missing. Python packages go to ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(iproute2 iputils-ping tshark tcpdump nftables procps python3-venv python3-pip)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
# pip prints nothing when everything is already there.
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
