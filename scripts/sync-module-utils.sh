#!/usr/bin/env bash
# Refresh the collection's vendored copies of agent modules (plugins/module_utils).
#
# Ansible modules run with the target's system Python and cannot import pmip6d,
# so the few agent modules they need (stdlib only, or stdlib + pyroute2) are
# copied byte for byte into plugins/module_utils. The agent's file is the one
# to edit; run this script afterwards. tests/unit/plugins/test_vendored.py
# reads the list below and fails when a copy differs from its source.
#
#   bash scripts/sync-module-utils.sh          copy
#   bash scripts/sync-module-utils.sh --check  only report copies that differ (exit 1)
set -euo pipefail
cd "$(dirname "$0")/.."

# "agent source  collection copy", one pair a line.
VENDORED=(
    "files/pmip6d/src/pmip6d/access/link.py plugins/module_utils/pmip_access_link.py"
    "files/pmip6d/src/pmip6d/control_client.py plugins/module_utils/pmip_control.py"
    "files/pmip6d/src/pmip6d/rules.py plugins/module_utils/pmip_rules.py"
)

check=false
[[ ${1:-} == --check ]] && check=true
status=0
for pair in "${VENDORED[@]}"; do
    read -r source copy <<<"$pair"
    if cmp -s "$source" "$copy"; then
        continue
    fi
    if $check; then
        echo "differs: $copy (from $source)" >&2
        status=1
    else
        cp "$source" "$copy"
        echo "updated: $copy"
    fi
done
exit $status
