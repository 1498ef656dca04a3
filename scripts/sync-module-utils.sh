#!/usr/bin/env bash
# Copy the agent's shared rules into the collection's module_utils.
#
# files/pmip6d/src/pmip6d/rules.py (the agent's schemas use it) is shipped to
# Ansible as plugins/module_utils/pmip_rules.py (the inventory filter uses it):
# Ansible cannot import the agent's package, so the file is vendored, byte for
# byte. Edit the agent's copy, then run this; tests/unit/plugins/module_utils/
# test_pmip_rules.py fails while the two differ.
#
#   scripts/sync-module-utils.sh           # copy
#   scripts/sync-module-utils.sh --check   # exit 1 if they differ (copy nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
source=files/pmip6d/src/pmip6d/rules.py
copy=plugins/module_utils/pmip_rules.py
if [ "${1:-}" = "--check" ]; then
    if cmp -s "$source" "$copy"; then
        exit 0
    fi
    echo "$copy differs from $source: run scripts/sync-module-utils.sh" >&2
    exit 1
fi
if cmp -s "$source" "$copy"; then
    echo "$copy: up to date"
else
    cp "$source" "$copy"
    echo "$copy: copied from $source"
fi
