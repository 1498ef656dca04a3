#!/usr/bin/env bash
# The main job (root, fresh Debian 12): the seed paper's Section IV on the emulated lab.
#
#   1. scripts/setup.sh (Debian packages, .venv, podman set-up; quick when done before);
#   2. site.yml on inventories/emulated: the image (first time), the containers and their
#      cabling (pmipv6-lma, -mag1, -mag2, -ap1, -ap2, -mn1, -cn), the agents, mn1 attached;
#   3. playbooks/experiment.yml: scenarios 1-3 x 10 handovers with live UDP and TCP traffic
#      (both through the same handover), measured from packet captures;
#   4. the Table II summary and where the report is.
#
# Running it again resumes: the lab converges (nothing to rebuild), finished runs are kept,
# only the missing ones are run, the report is written again. The lab stays up at the end.
#
# Usage: scripts/lab.sh [--runs N] [--long-runs N] [--out DIR] [--fresh] [--teardown] [--keep]
#        scripts/lab.sh demo [ARGS]   the one-handover namespace demo (python -m pmip6d_lab.labdemo)
#   --runs N     handovers per scenario (default 10)
#   --long-runs N  scenario 1 to the end: N more scenario-1 runs observed 160 s after the
#                move, each stall measured until it ends (default 0: ~3 min each, beyond
#                the main job's 10 minutes; docs/results was made with 3)
#   --out DIR    results (default artifacts/experiment)
#   --fresh      start the experiment over (removes DIR first)
#   --teardown   remove the lab at the end (default: leave it up)
#   --keep       leave the lab up (the default; accepted for compatibility)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = demo ]; then
    shift
    bash scripts/setup.sh
    exec .venv/bin/python -m pmip6d_lab.labdemo "$@"
fi

runs=10
long_runs=0
out=artifacts/experiment
fresh=0
teardown=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --long-runs) long_runs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --fresh) fresh=1; shift ;;
        --teardown) teardown=1; shift ;;
        --keep) shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lab.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$runs" in ''|*[!0-9]*|0) echo "lab.sh: --runs wants a positive number" >&2; exit 2 ;; esac
case "$long_runs" in ''|*[!0-9]*) echo "lab.sh: --long-runs wants a number" >&2; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then
    echo "lab.sh: run me as root (rootful podman, network namespaces, captures)" >&2
    exit 2
fi
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
inventory=inventories/emulated
mkdir -p artifacts
log_dir=artifacts/lab-logs
mkdir -p "$log_dir"

started=$(date +%s)
started_utc=$(date -u -d "@$started" +%Y-%m-%dT%H:%M:%SZ)
mark=$started
declare -a steps=() step_names=() step_seconds=()
step_done() {
    local now
    now=$(date +%s)
    steps+=("$(printf '%-44s %4d s' "$1" $((now - mark)))")
    step_names+=("$1")
    step_seconds+=($((now - mark)))
    mark=$now
}
# A JSON string (the step names, host and kernel hold no control characters).
json_str() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}
# durations.json in the output directory: what the printed "== time" says, machine-readable,
# with where and when it ran, so that a figure quoted from a run can be traced to it.
write_durations() {
    local ended=$1 i sep=""
    mkdir -p "$out"
    {
        printf '{\n "job": "scripts/lab.sh",\n'
        printf ' "commit": %s,\n' "$(json_str "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")"
        printf ' "started_at": "%s",\n' "$started_utc"
        printf ' "ended_at": "%s",\n' "$(date -u -d "@$ended" +%Y-%m-%dT%H:%M:%SZ)"
        printf ' "host": %s,\n "kernel": %s,\n' "$(json_str "$(hostname)")" "$(json_str "$(uname -r)")"
        printf ' "image_before": "%s",\n' "$image_before"
        printf ' "runs_per_scenario": %d,\n "long_runs": %d,\n "fresh": %s,\n "teardown": %s,\n' "$runs" "$long_runs" \
            "$([ "$fresh" -eq 1 ] && echo true || echo false)" \
            "$([ "$teardown" -eq 1 ] && echo true || echo false)"
        printf ' "experiment_exit_code": %d,\n "steps": [' "$rc"
        for i in "${!step_names[@]}"; do
            printf '%s\n  {"name": %s, "seconds": %d}' "$sep" "$(json_str "${step_names[$i]}")" \
                "${step_seconds[$i]}"
            sep=,
        done
        printf '\n ],\n "total_seconds": %d\n}\n' $((ended - started))
    } >"$out/durations.json"
}
elapsed() { local s=$(($(date +%s) - started)); printf '%d:%02d' $((s / 60)) $((s % 60)); }
say() { echo "== lab.sh [$(elapsed)] $*"; }

say "1/3 machine set-up (scripts/setup.sh)"
bash scripts/setup.sh
step_done "set-up (scripts/setup.sh)"

image_before=$(podman image exists localhost/pmipv6-debian:bookworm && echo present || echo absent)
say "2/3 the emulated lab: site.yml -i $inventory (image $image_before; log: $log_dir/site.log)"
# One line per play here, everything in the log.
if ! .venv/bin/ansible-playbook site.yml -i "$inventory" 2>&1 | tee "$log_dir/site.log" \
        | { grep --line-buffered '^PLAY \[' || true; } | sed -u 's/^PLAY \[\(.*\)\] \**$/   \1/'; then
    tail -40 "$log_dir/site.log" >&2
    echo "lab.sh: site.yml failed; the whole log is $log_dir/site.log" >&2
    exit 1
fi
grep -A20 '^PLAY RECAP' "$log_dir/site.log" | sed '/^$/q'
step_done "lab: site.yml (image $image_before)"

if [ "$fresh" -eq 1 ] && [ -d "$out" ]; then
    say "--fresh: removing $out"
    rm -rf "$out"
fi
say "3/3 the experiment: playbooks/experiment.yml, $runs runs per scenario → $out"
set +e
.venv/bin/ansible-playbook playbooks/experiment.yml -i "$inventory" \
    -e pmipv6_experiment_dir="$out" -e pmipv6_experiment_runs="$runs" \
    -e pmipv6_experiment_long_runs="$long_runs" 2>&1 | tee "$log_dir/experiment.log"
rc=${PIPESTATUS[0]}
set -e
step_done "experiment: playbooks/experiment.yml"

if [ "$teardown" -eq 1 ]; then
    say "--teardown: removing the lab"
    .venv/bin/ansible-playbook playbooks/teardown.yml -i "$inventory" >"$log_dir/teardown.log" 2>&1
    step_done "teardown"
fi

# One end time for durations.json and the printed total, so that the two agree.
ended=$(date +%s)
write_durations "$ended"
if [ -f "$out/report.md" ]; then
    # The playbook wrote the report before durations.json existed; again, so that its
    # Set-up section states this job's duration (the same analysis, a few seconds more).
    say "the report again, with this job's durations ($out/durations.json)"
    .venv/bin/python -m pmip6d_lab.experiment report "$out" >"$log_dir/report.log" 2>&1 ||
        { cat "$log_dir/report.log" >&2; echo "lab.sh: rewriting the report failed" >&2; }
fi

echo
echo "== time"
for s in "${steps[@]}"; do echo "   $s"; done
echo "   $(printf '%-44s %4d s' total $((ended - started)))"
echo "   (also in $out/durations.json)"
echo
if [ -f "$out/report.md" ]; then
    echo "== Table II and the scenarios ($out)"
    .venv/bin/python -m pmip6d_lab.experiment summary "$out" | sed 's/^/   /'
fi
echo
if [ "$teardown" -eq 0 ]; then
    echo "The lab is up (podman ps; pmipctl in the containers, e.g."
    echo "  podman exec pmipv6-lma /opt/pmip6d/venv/bin/pmipctl bindings). Remove it with"
    echo "  .venv/bin/ansible-playbook playbooks/teardown.yml -i $inventory"
fi
if [ "$rc" -ne 0 ]; then
    echo "lab.sh: the experiment did not complete (log: $log_dir/experiment.log);" \
        "run scripts/lab.sh again: it redoes only the missing runs" >&2
    exit "$rc"
fi
