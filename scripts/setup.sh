#!/usr/bin/env bash
# Prepare this machine (fresh Debian 12, as root) for the lab and the tests.
# Idempotent: installs only what is missing. Python packages go to ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(iproute2 iputils-ping tshark tcpdump nftables procps iperf3 python3-venv python3-pip
              python3-pyroute2 shellcheck
              hostapd wpasupplicant iw
              podman runc mmdebstrap uidmap slirp4netns)
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

# Make this checkout the netlmm.pmipv6 collection for ansible (ansible.cfg looks here).
mkdir -p .ansible/collections/ansible_collections/netlmm .ansible/roles
ln -sfn ../../../.. .ansible/collections/ansible_collections/netlmm/pmipv6

# Rootful podman on these machines: crun rejects the hybrid cgroup setup, runc works.
if [ ! -f /etc/containers/containers.conf ] || ! grep -q '^runtime *= *"runc"' /etc/containers/containers.conf; then
    mkdir -p /etc/containers
    cat > /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"
CONF
fi
