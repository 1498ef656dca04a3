#!/usr/bin/env bash
# Integration test of the emulated testbed (role netlmm.pmipv6.testbed,
# playbooks/testbed.yml) on this machine, as root:
#
#   1. build it twice: the second run changes nothing; a check-mode run neither
#   2. systemd runs in every container; Ansible reaches them (podman connection)
#   3. pings over every cable: LMA <-> MAGs (core), LMA <-> CN, MAG <-> AP (mgmt0)
#   4. the MN's radio port starts unplugged; pmip6d-ap associates it with AP1:
#      wlan0 gets carrier, MAG1 reaches the MN and gets AP1's syslog from AP1's
#      address; a roam to AP2 keeps the carrier, moves the MN to MAG2's link and
#      sends REASSOC to MAG2 and ROAMED to MAG1
#   5. teardown twice (second changes nothing), nothing left: containers,
#      namespaces, links, files
#   6. a build that fails half-way (after some veths) is torn down just as well
#
# Builds the test suite's copy (tests/inventories/emulated: pmipv6t-*), so a lab
# that scripts/lab.sh left up (pmipv6-*) stays as it is. Cleans up on any exit.
# Refuses to run when a test testbed already exists (another test run may be
# using it) unless PMIPV6_TESTBED_FORCE=1. The image is kept (built once,
# ~40 s) unless PMIPV6_TESTBED_REMOVE_IMAGE=1. Logs: artifacts/testbed/.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=$PWD/.venv/bin
# inventories/emulated under the test suite's own names (pmipv6t-*), so that a
# lab left up by scripts/lab.sh (pmipv6-*) is neither in the way nor touched.
INVENTORY=tests/inventories/emulated
PLAYBOOK=playbooks/testbed.yml
# Values of that inventory (group_vars/all/testbed_tests.yml, host_vars/).
PREFIX=pmipv6t
APS_FILE=/run/$PREFIX-testbed/aps.yml
WORK_DIR=/run/$PREFIX-testbed
LABEL=org.netlmm.pmipv6.testbed=pmipv6-tests
AIR=$PREFIX-air
NAMESPACES=("$PREFIX-sw" "$AIR")
HOSTS=(lma mag1 mag2 ap1 ap2 mn1 cn)
MN_MAC=02:00:00:00:01:01
MN_PORT=mn1-radio
LOG_DIR=artifacts/testbed
mkdir -p "$LOG_DIR"

start=$SECONDS
listeners=()

step() { echo "== $* ($((SECONDS - start)) s)"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
c() { podman exec "$PREFIX-$1" "${@:2}"; } # run in a host's container

[ "$(id -u)" -eq 0 ] || fail "needs root (rootful podman, network namespaces)"
for tool in podman mmdebstrap nsenter ip; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/setup.sh"
done
[ -x "$VENV/ansible-playbook" ] || fail ".venv has no ansible: run scripts/setup.sh"

testbed_leftovers() { # what of the testbed exists now, one item a line
    podman ps -a --filter "label=$LABEL" --format 'container {{.Names}}'
    for name in "${HOSTS[@]}"; do
        podman container exists "$PREFIX-$name" && echo "container $PREFIX-$name"
    done
    for ns in "${NAMESPACES[@]}"; do
        [ -e "/run/netns/$ns" ] && echo "netns $ns"
    done
    [ -e "$WORK_DIR" ] && echo "dir $WORK_DIR"
    true
}

if [ -n "$(testbed_leftovers)" ] && [ -z "${PMIPV6_TESTBED_FORCE:-}" ]; then
    fail "a testbed exists already ($(testbed_leftovers | sort -u | paste -sd, -)); someone may" \
        "be using it. PMIPV6_TESTBED_FORCE=1 replaces it"
fi

host_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
links_before=$(host_links)

playbook() { # LOG ARGS...: run the testbed playbook, output in $LOG_DIR/LOG.log
    local log=$LOG_DIR/$1.log
    shift
    if ! "$VENV/ansible-playbook" -i "$INVENTORY" "$PLAYBOOK" "$@" >"$log" 2>&1; then
        [ -n "${expect_failure:-}" ] || tail -40 "$log" >&2
        return 1
    fi
}
changed() { # LOG: the changed= count of the play recap
    grep -E '^localhost +:' "$LOG_DIR/$1.log" | sed -E 's/.*changed=([0-9]+).*/\1/'
}

cleanup() {
    local rc=$?
    trap - EXIT
    for pid in "${listeners[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    step "cleanup: teardown"
    local args=(-e pmipv6_testbed_state=absent)
    [ -n "${PMIPV6_TESTBED_REMOVE_IMAGE:-}" ] && args+=(-e pmipv6_testbed_remove_image=true)
    if ! playbook cleanup "${args[@]}"; then
        echo "cleanup: teardown failed, see $LOG_DIR/cleanup.log" >&2
        rc=1
    fi
    local left
    left=$(testbed_leftovers)
    if [ -n "$left" ]; then
        echo "cleanup: left behind: $left" >&2
        rc=1
    fi
    if [ "$rc" -eq 0 ]; then
        echo "PASS: testbed test in $((SECONDS - start)) s"
    else
        echo "testbed test failed after $((SECONDS - start)) s (logs: $LOG_DIR)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ping_ok() { # HOST ADDRESS: one echo reply within 5 s
    c "$1" ping -n -q -c1 -w5 "$2" >/dev/null || fail "$1 cannot ping $2"
}
ping_fails() { # HOST ADDRESS
    if c "$1" ping -n -q -c1 -w2 "$2" >/dev/null 2>&1; then
        fail "$1 reaches $2 and should not"
    fi
}
link_local() { # HOST DEV
    c "$1" ip -j -6 addr show dev "$2" scope link |
        python3 -c 'import json, sys; print(next(a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if "local" in a))'
}
carrier() { c mn1 cat /sys/class/net/wlan0/carrier; }
carrier_changes() { c mn1 cat /sys/class/net/wlan0/carrier_changes; }

# A syslog receiver in a MAG's container: prints each datagram and its source.
RECEIVER='
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 514))
for _ in range(int(sys.argv[1])):
    data, src = s.recvfrom(4096)
    print(src[0], data.decode(), flush=True)
'
listen_syslog() { # HOST COUNT OUT: receive COUNT datagrams (20 s at most)
    c "$1" timeout 20 python3 -u -c "$RECEIVER" "$2" >"$3" 2>&1 &
    listeners+=($!)
    for _ in $(seq 100); do
        c "$1" ss -Hlun 'sport = :514' | grep -q . && return 0
        sleep 0.1
    done
    fail "the syslog receiver in $1 did not start"
}
expect_syslog() { # OUT SOURCE PATTERN
    for _ in $(seq 50); do
        grep -E "^$2 .*$3" "$1" >/dev/null && return 0
        sleep 0.1
    done
    fail "no syslog from $2 matching '$3' in $1: $(cat "$1")"
}
ap_tool() { "$VENV/pmip6d-ap" -c "$APS_FILE" "$@" >>"$LOG_DIR/pmip6d-ap.log"; }

# ---------------------------------------------------------------- 1. build
step "build (image built if absent)"
t0=$SECONDS
playbook build1
echo "   first run: $((SECONDS - t0)) s, changed=$(changed build1)"
t0=$SECONDS
playbook build2
echo "   second run: $((SECONDS - t0)) s"
[ "$(changed build2)" = 0 ] || fail "second run changed $(changed build2) things (log: build2.log)"
playbook check --check --diff
[ "$(changed check)" = 0 ] || fail "check mode reports changes (log: check.log)"

# ---------------------------------------------------------------- 2. hosts
step "systemd and the podman connection"
for host in "${HOSTS[@]}"; do
    state=$(c "$host" systemctl is-system-running || true)
    case $state in running | degraded) ;; *) fail "$host: systemd is $state" ;; esac
    [ "$(c "$host" hostname)" = "$host" ] || fail "$host: wrong hostname"
done
c lma python3 -c 'import pyroute2, yaml, venv' || fail "the image lacks Python packages"
for tool in ip ping iperf3 tcpdump nft sysctl; do
    c lma sh -c "command -v $tool" >/dev/null || fail "the image has no $tool"
done
"$VENV/ansible" -i "$INVENTORY" all -m ansible.builtin.ping >"$LOG_DIR/ansible-ping.log" 2>&1 ||
    fail "ansible ping failed: $(tail -20 "$LOG_DIR/ansible-ping.log")"
[ "$(grep -c 'SUCCESS' "$LOG_DIR/ansible-ping.log")" = "${#HOSTS[@]}" ] ||
    fail "not every host answered ansible ping"

# ---------------------------------------------------------------- 3. cables
step "pings over the cables"
ping_ok lma 2001:db8:ffff::11
ping_ok lma 2001:db8:ffff::12
ping_ok mag1 2001:db8:ffff::1
ping_ok mag2 2001:db8:ffff::1
ping_ok mag1 2001:db8:ffff::12
ping_ok lma 2001:db8:c::2
ping_ok cn 2001:db8:c::1
ping_ok cn 2001:db8:ffff::1 # through its default route
ping_ok mag1 fd00:a1::2
ping_ok ap1 fd00:a1::1
ping_ok mag2 fd00:a2::2
ping_ok ap2 fd00:a2::1
ping_fails mag1 fd00:a2::2 # the APs' management links are separate

# ---------------------------------------------------------------- 4. radio
step "MN: unplugged, associate with AP1, roam to AP2"
[ "$(c mn1 cat /sys/class/net/wlan0/address)" = "$MN_MAC" ] || fail "mn1: wrong MAC"
[ "$(carrier)" = 0 ] || fail "mn1 has carrier before it associated"
[ -z "$(c mn1 ip -6 addr show dev wlan0 scope global)" ] || fail "mn1 has a global address"
ip -n "$AIR" -j link show "$MN_PORT" | grep -q '"master"' && fail "$MN_PORT is plugged in"

listen_syslog mag1 1 "$LOG_DIR/syslog-mag1-assoc.txt"
ap_tool associate --ap ap1 --station "$MN_MAC" --port "$MN_PORT" --name MN1
expect_syslog "$LOG_DIR/syslog-mag1-assoc.txt" fd00:a1::2 "%DOT11-6-ASSOC: .*0200.0000.0101 Associated"
for _ in $(seq 50); do
    [ "$(carrier)" = 1 ] && break
    sleep 0.1
done
[ "$(carrier)" = 1 ] || fail "mn1's wlan0 has no carrier after associating with AP1"
mn_ll=
for _ in $(seq 50); do # the kernel adds it once the link has carrier
    mn_ll=$(link_local mn1 wlan0 2>/dev/null) && break
    sleep 0.1
done
[ -n "$mn_ll" ] || fail "mn1's wlan0 has no link-local address"
ping_ok mag1 "$mn_ll%acc0" # the MN is on MAG1's access link
changes=$(carrier_changes)

listen_syslog mag2 1 "$LOG_DIR/syslog-mag2-roam.txt"
listen_syslog mag1 1 "$LOG_DIR/syslog-mag1-roam.txt"
ap_tool roam --from ap1 --to ap2 --station "$MN_MAC" --port "$MN_PORT" --name MN1
expect_syslog "$LOG_DIR/syslog-mag2-roam.txt" fd00:a2::2 "%DOT11-6-ASSOC: .*0200.0000.0101 Reassociated"
expect_syslog "$LOG_DIR/syslog-mag1-roam.txt" fd00:a1::2 "%DOT11-6-ROAMED: Station 0200.0000.0101 Roamed to 0019.a9f0.0002"
ping_ok mag2 "$mn_ll%acc0" # ... and now on MAG2's
ping_fails mag1 "$mn_ll%acc0"
if [ "$(carrier)" != 1 ] || [ "$(carrier_changes)" != "$changes" ]; then
    fail "mn1's carrier dropped during the roam"
fi
[ "$(ip -n "$AIR" -j link show "$MN_PORT" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["master"])')" = bss-ap2 ] ||
    fail "$MN_PORT is not in bss-ap2"
step "re-running the playbook leaves the roamed MN alone"
playbook build3
[ "$(changed build3)" = 0 ] || fail "a run after the roam changed $(changed build3) things"

# ---------------------------------------------------------------- 5. teardown
step "teardown"
playbook teardown1 -e pmipv6_testbed_state=absent
playbook teardown2 -e pmipv6_testbed_state=absent
[ "$(changed teardown2)" = 0 ] || fail "second teardown changed $(changed teardown2) things"
[ -z "$(testbed_leftovers)" ] || fail "left behind: $(testbed_leftovers)"
[ "$(host_links)" = "$links_before" ] || fail "the host's links changed: $(diff <(echo "$links_before") <(host_links))"

# ---------------------------------------------------------------- 6. half-built
step "a build that fails half-way, then teardown"
# Without the radio medium namespace the APs' air0 peers have nowhere to go: the
# cabling stops after the core links and the AP uplinks are made.
if expect_failure=1 playbook broken -e '{"pmipv6_testbed_namespaces": [{"name": "'"$PREFIX"'-sw", "bridges": [{"name": "core"}]}]}'; then
    fail "the broken build did not fail"
fi
grep -q "unknown node" "$LOG_DIR/broken.log" || fail "the broken build failed for another reason"
c lma ip link show core0 >/dev/null || fail "the broken build did not get as far as the cabling"
playbook teardown3 -e pmipv6_testbed_state=absent
[ -z "$(testbed_leftovers)" ] || fail "left behind: $(testbed_leftovers)"
[ "$(host_links)" = "$links_before" ] || fail "the host's links changed"
