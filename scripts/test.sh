#!/usr/bin/env bash
# The test command (README): lint, unit tests, namespace end-to-end tests on this
# kernel and under Debian 12's stock kernel (QEMU), the Ansible collection's sanity
# and unit tests, the emulated lab (podman) and molecule.
# Root on Debian 12. Extra arguments go to the pytest of both Python packages, the agent's
# (files/pmip6d) and the lab's (files/pmip6d-lab), e.g. scripts/test.sh -x; a -k filter must
# select tests in both, since a package with nothing to run fails (run_pytest).
# PMIPV6_TEST_ONLY=lint|agent|stock-kernel|collection|lab|experiment|molecule runs one stage.
set -euo pipefail
cd "$(dirname "$0")/.."

# artifacts/test-durations.json: every stage this call ran, its seconds and result, written
# on every exit (a failed stage included, by the EXIT trap), so that a duration quoted for
# the test command can be traced to a run of it. The clock starts before set-up.
t0=$(date +%s)
t0_utc=$(date -u -d "@$t0" +%Y-%m-%dT%H:%M:%SZ)
setup_seconds=null
current_stage=""
current_start=0
declare -a stage_names=() stage_seconds=() stage_results=()
end_stage() {
    [ -n "$current_stage" ] || return 0
    stage_names+=("$current_stage")
    stage_seconds+=($(($(date +%s) - current_start)))
    stage_results+=("$1")
    current_stage=""
}
# The stage the following commands belong to; the one before it has passed.
begin_stage() {
    end_stage passed
    current_stage=$1
    current_start=$(date +%s)
}
json_str() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}
write_test_durations() {
    local rc=$? ended i sep="" full=false
    ended=$(date +%s)
    end_stage "$([ "$rc" -eq 0 ] && echo passed || echo failed)"
    # Only the whole command is a full run: no stage picked, no pytest filter.
    [ -z "${PMIPV6_TEST_ONLY:-}" ] && [ "${#pytest_args[@]}" -eq 0 ] && full=true
    mkdir -p artifacts
    {
        printf '{\n "command": "scripts/test.sh",\n'
        printf ' "commit": %s,\n' "$(json_str "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")"
        printf ' "started_at": "%s",\n' "$t0_utc"
        printf ' "ended_at": "%s",\n' "$(date -u -d "@$ended" +%Y-%m-%dT%H:%M:%SZ)"
        printf ' "host": %s,\n "kernel": %s,\n' "$(json_str "$(hostname)")" "$(json_str "$(uname -r)")"
        printf ' "only": %s,\n' "$([ -n "${PMIPV6_TEST_ONLY:-}" ] && json_str "$PMIPV6_TEST_ONLY" || echo null)"
        printf ' "pytest_args": [%s],\n' "$(for a in "${pytest_args[@]}"; do printf '%s%s' "$sep" "$(json_str "$a")"; sep=", "; done)"
        sep=""
        printf ' "full_run": %s,\n "ci": %s,\n' "$full" "$([ -n "${CI:-}" ] && echo true || echo false)"
        printf ' "setup_seconds": %s,\n "stages": [' "$setup_seconds"
        for i in "${!stage_names[@]}"; do
            printf '%s\n  {"name": "%s", "seconds": %d, "result": "%s"}' "$sep" "${stage_names[$i]}" \
                "${stage_seconds[$i]}" "${stage_results[$i]}"
            sep=,
        done
        printf '\n ],\n "result": "%s",\n "exit_code": %d,\n "total_seconds": %d\n}\n' \
            "$([ "$rc" -eq 0 ] && echo passed || echo failed)" "$rc" $((ended - t0))
    } >artifacts/test-durations.json || true
    echo "== durations: artifacts/test-durations.json"
}
pytest_args=("$@")
trap write_test_durations EXIT

bash scripts/setup.sh
setup_seconds=$(($(date +%s) - t0))
# Absolute: some stages run pytest from files/pmip6d or files/pmip6d-lab.
venv=$PWD/.venv/bin
# What runs pytest: the venv's, or the same wrapped in the stock-kernel VM.
pytest_runner=("$venv"/pytest)

mkdir -p artifacts
only=${PMIPV6_TEST_ONLY:-}
stage() { [ -z "$only" ] || [ "$only" = "$1" ]; }
started=$(date +%s)
note() { echo "== $* ($(($(date +%s) - started)) s)"; }

# pytest with the exit codes made honest: 5 (nothing collected) fails, and under
# CI any skipped test fails too, because a skipped test proves nothing.
run_pytest() {
    local report=$1
    shift
    set +e
    "${pytest_runner[@]}" -p no:cacheprovider -ra --timeout=1800 --junitxml="$report" "$@"
    local rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure, not a pass" >&2
        return 1
    fi
    [ "$rc" -eq 0 ] || return "$rc"
    local skipped
    skipped=$(grep -o 'skipped="[0-9]*"' "$report" | head -1 | grep -o '[0-9]*')
    if [ -n "${CI:-}" ] && [ "${skipped:-0}" -ne 0 ]; then
        echo "CI: $skipped test(s) were skipped in $report; every test must run here" >&2
        return 1
    fi
}

if stage lint || stage agent || stage collection || [ -z "$only" ]; then
    begin_stage lint
    note "ruff"
    "$venv"/ruff check .
    "$venv"/ruff format --check --quiet . || { echo "ruff format would change files" >&2; exit 1; }
    note "yamllint"
    "$venv"/yamllint -s .
    note "ansible-lint (production profile)"
    "$venv"/ansible-lint --profile production -q
fi

if stage agent; then
    begin_stage agent
    note "pmip6d (the agent): unit and namespace tests, the wheel's file list"
    (cd files/pmip6d && run_pytest ../../artifacts/pytest-agent.xml "$@")
    note "pmip6d-lab (test beds, emulated APs, experiment harness): unit and namespace tests"
    (cd files/pmip6d-lab && run_pytest ../../artifacts/pytest-agent-lab.xml "$@")
fi

# Debian 12's own kernel (ip6_tunnel, seg6, lwt BPF as modules), booted under QEMU
# with this machine's root file system (scripts/stock-kernel.sh): the data-plane
# tests for all three tunnel backends, named so that a missing one fails, and the
# end-to-end handover with ip6tnl, the backend 'auto' picks on such hosts. The
# junit reports come back through the artifacts share, so skips fail here too.
if stage stock-kernel; then
    begin_stage stock-kernel
    note "pmip6d under Debian 12's stock kernel (QEMU): data plane per backend, kernel ESP, e2e handover with ip6tnl"
    vm=(bash "$PWD/scripts/stock-kernel.sh" --timeout 2400)
    (cd files/pmip6d &&
        pytest_runner=("${vm[@]}" -e "PMIP6D_TEST_BACKENDS=ip6tnl,seg6,ebpf" -- "$venv"/pytest) &&
        run_pytest ../../artifacts/pytest-stock-kernel-dataplane.xml tests/integration/test_dataplane_netns.py)
    # The kernel's ESP for signaling (xfrm, esp6, rfc4106): its own directory, which
    # the host run leaves out (the lab kernel has no esp6), interop with the agent's ESP.
    (cd files/pmip6d &&
        pytest_runner=("${vm[@]}" -- "$venv"/pytest) &&
        run_pytest ../../artifacts/pytest-stock-kernel-xfrm.xml tests/stock_kernel \
            tests/integration/test_xfrm_probe_netns.py)
    # The end-to-end handover builds the lab's namespace domain: the lab package's test;
    # beside it, the agents with the kernel's ESP at the LMA against the agent's at a MAG.
    (cd files/pmip6d-lab &&
        pytest_runner=("${vm[@]}" -e PMIP6D_TEST_BACKENDS=ip6tnl -- "$venv"/pytest) &&
        run_pytest ../../artifacts/pytest-stock-kernel-e2e.xml tests/integration/test_e2e_handover.py \
            tests/stock_kernel)
fi

if stage collection; then
    begin_stage collection
    note "collection: module, filter and playbook-level tests"
    run_pytest artifacts/pytest-collection.xml tests/unit/plugins tests/ansible/test_inventory_errors.py \
        tests/ansible/test_collection_artifact.py tests/ansible/test_docs_results.py \
        tests/ansible/test_docs_report_sections.py \
        tests/ansible/test_role_defaults.py tests/ansible/test_benchmark_tables.py \
        tests/ansible/test_durations.py tests/ansible/test_grafana_dashboard.py \
        tests/ansible/test_readme_figures.py tests/ansible/test_mag_trigger_config.py \
        tests/ansible/test_docs_results_hwsim.py
    note "collection: ansible-test sanity and units"
    bash scripts/ansible-test.sh sanity
    bash scripts/ansible-test.sh units
fi

if stage lab; then
    begin_stage lab
    note "emulated lab: testbed role on its own"
    bash tests/testbed/test_testbed.sh
    note "emulated lab: site.yml converges, verifies, is idempotent, --check is clean"
    run_pytest artifacts/pytest-lab.xml tests/ansible/test_site_emulated.py
fi

if stage experiment; then
    begin_stage experiment
    note "experiments: playbooks/experiment.yml on the emulated lab, report recomputed from raw data"
    run_pytest artifacts/pytest-experiment.xml tests/ansible/test_experiment_emulated.py
fi

if stage molecule; then
    begin_stage molecule
    note "molecule scenarios"
    bash scripts/molecule.sh
fi

note "all tests passed"
