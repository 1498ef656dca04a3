#!/usr/bin/env bash
# The molecule scenarios (molecule/README.md), one after another: each runs
# `molecule test` (destroy, syntax, create, converge, idempotence, verify,
# destroy; destroy also when a step fails). Full logs go to
# artifacts/molecule/<scenario>.log; the summary gives each scenario's time.
# Exit status: 0 only if every scenario passed.
#
#   bash scripts/molecule.sh                    # all scenarios
#   bash scripts/molecule.sh default agent      # some of them
#   PMIPV6_MOLECULE_SCENARIOS="agent" bash scripts/molecule.sh
#
# Root on Debian 12 after scripts/setup.sh (rootful podman, the .venv, the
# collection linked into .ansible/collections). Uses containers pmipv6m-*,
# namespaces pmipv6m-sw / pmipv6m-air and /run/pmipv6m-testbed, so it can run
# beside the emulated lab (pmipv6-*); two molecule runs wait for each other
# (lock /run/lock/pmipv6m-molecule.lock).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Cheap ones first: a broken set-up shows in seconds.
all_scenarios=(bad_input agent hostapd_ap default dynamic_tunnels per_mag_addresses)
if (($#)); then
    scenarios=("$@")
elif [ -n "${PMIPV6_MOLECULE_SCENARIOS:-}" ]; then
    read -r -a scenarios <<<"$PMIPV6_MOLECULE_SCENARIOS"
else
    scenarios=("${all_scenarios[@]}")
fi
for s in "${scenarios[@]}"; do
    [ -f "molecule/$s/molecule.yml" ] || { echo "molecule.sh: no scenario molecule/$s" >&2; exit 2; }
done

[ "$(id -u)" -eq 0 ] || { echo "molecule.sh: needs root (rootful podman, network namespaces)" >&2; exit 2; }
[ -x .venv/bin/molecule ] || { echo "molecule.sh: no .venv/bin/molecule; run scripts/setup.sh first" >&2; exit 2; }
[ -e .ansible/collections/ansible_collections/netlmm/pmipv6/galaxy.yml ] || {
    echo "molecule.sh: the collection is not linked into .ansible/collections; run scripts/setup.sh first" >&2
    exit 2
}

# molecule runs ansible-playbook from PATH; the venv's must be the one.
export PATH="$root/.venv/bin:$PATH" VIRTUAL_ENV="$root/.venv"
export MOLECULE_PROJECT_DIRECTORY="$root"
if [ ! -t 1 ]; then
    export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
fi

# All scenarios use the same container names: one molecule run at a time.
lock=/run/lock/pmipv6m-molecule.lock
mkdir -p /run/lock
exec 9>"$lock"
if ! flock -n 9; then
    echo "molecule.sh: another molecule run holds $lock; waiting" >&2
    flock 9
fi

logs=artifacts/molecule
mkdir -p "$logs"

# If this script is interrupted mid-scenario (Ctrl-C, a CI timeout's TERM),
# molecule's own destroy step may never run: stop molecule and run it here
# (the destroy playbook removes whatever is there). molecule runs in the
# background so that a signal reaches this script at once, not after it.
current=""
child=""
cleanup() {
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [ -n "$current" ]; then
        echo "molecule.sh: interrupted during '$current'; destroying its testbed" >&2
        molecule destroy -s "$current" >>"$logs/$current.log" 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=()
summary=()
started=$(date +%s)
for s in "${scenarios[@]}"; do
    echo "== molecule: $s (log: $logs/$s.log)"
    current=$s
    t0=$(date +%s)
    molecule test -s "$s" >"$logs/$s.log" 2>&1 &
    child=$!
    set +e
    wait "$child"
    rc=$?
    set -e
    child=""
    current=""
    seconds=$(($(date +%s) - t0))
    if [ "$rc" -eq 0 ]; then
        summary+=("$(printf '%-20s passed  %4d s' "$s" "$seconds")")
    else
        summary+=("$(printf '%-20s FAILED  %4d s (rc %d)' "$s" "$seconds" "$rc")")
        failed+=("$s")
        echo "-- last lines of $logs/$s.log:" >&2
        tail -n 80 "$logs/$s.log" >&2
    fi
    echo "${summary[-1]}"
done

echo "== molecule summary ($(($(date +%s) - started)) s in all)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "molecule: failed: ${failed[*]}" >&2
    exit 1
fi
