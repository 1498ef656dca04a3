#!/usr/bin/env bash
# Table II on real 802.11: the paper's scenario 2 with hostapd APs and a
# wpa_supplicant MN on mac80211_hwsim radios (Debian's kernel under QEMU), beside
# the paper's, the podman lab's, and the same handovers with emulated APs in the
# VM and on this machine, whose ratio is the VM's slowdown (pmip6d_lab.hwsim_table).
#
#   bash scripts/hwsim-table.sh [--handovers N] [--out DIR]
#
# Writes DIR (default artifacts/hwsim-table): native.json, vm-emulated.json,
# vm-hwsim.json, report.md. As root, after scripts/setup.sh; about 4 minutes
# for 10 handovers each. Run it on an idle machine: the slowdown is a ratio of
# two timings, and anything else running skews the native one.
set -euo pipefail
cd "$(dirname "$0")/.."

handovers=10
out=artifacts/hwsim-table
while (($#)); do
    case $1 in
    --handovers) handovers=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bash scripts/hwsim-table.sh [--handovers N] [--out DIR]" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
py=$PWD/.venv/bin/python
table=(-m pmip6d_lab.hwsim_table)

echo "hwsim-table: $handovers handovers with emulated APs on this machine" >&2
"$py" "${table[@]}" run --access emulated --handovers "$handovers" --out "$out/native.json"
echo "hwsim-table: the same in Debian's kernel under QEMU, then with hostapd on hwsim" >&2
bash scripts/stock-kernel.sh --share "$out" --timeout 1800 -- bash -c "
    set -e
    '$py' ${table[*]} run --access emulated --handovers $handovers --out '$out/vm-emulated.json'
    '$py' ${table[*]} run --access hwsim --handovers $handovers --out '$out/vm-hwsim.json'"
"$py" "${table[@]}" report "$out/native.json" "$out/vm-emulated.json" "$out/vm-hwsim.json" \
    --podman docs/results/results.json --out "$out/report.md"
