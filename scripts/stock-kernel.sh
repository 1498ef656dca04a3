#!/usr/bin/env bash
# Run a command inside Debian 12's stock kernel (linux-image-amd64's current
# 6.1.0-NN-amd64) under QEMU, with the host's root file system as the guest's
# root, and exit with the command's status.
#
# Why: the lab machines' kernel has no loadable modules and lacks ip6_tunnel,
# seg6 (on some builds), netem and esp6; Debian's own kernel has all of them.
# The guest sees the very same checkout, .venv, tshark and iproute2 as the host.
#
#   bash scripts/stock-kernel.sh [options] -- COMMAND [ARG...]
#
#   -e NAME=VALUE   set an environment variable for COMMAND (repeatable); the
#                   guest environment is otherwise PATH, HOME=/root,
#                   LANG=C.UTF-8, TERM, and CI when it is set on the host
#   --share DIR     the host directory mounted writable at the same path in the
#                   guest, for results (default: the repo's artifacts/);
#                   --share '' for none
#   --timeout SEC   wall-clock limit for the whole VM (default 1800)
#   --memory SIZE   guest memory (default 2048M)
#   --smp N         guest CPUs (default 2; QEMU runs them on host threads)
#   --verbose       show the kernel's boot messages and the init's timings
#
# COMMAND runs as root, in the caller's working directory, stdin /dev/null,
# stdout and stderr on the guest's serial console, which is this script's
# stdout. Everything outside the share is writable in the guest but the writes
# stay in guest memory (a tmpfs overlay over the read-only 9p export of /).
# Exit status: COMMAND's; 124 if the timeout struck; 125 if the VM failed
# (boot error, kernel panic, no status reported).
#
# Installs qemu-system-x86, kmod and python3 with apt when missing. Caches the
# kernel package (extracted, about 470 MB with the ELF kernel), a static busybox
# and the initramfs in $PMIPV6_VM_CACHE (default /var/cache/pmipv6-vm).
# PMIPV6_VM_KERNEL=linux-image-... picks a kernel package other than
# linux-image-amd64's dependency.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

say() { echo "stock-kernel: $*" >&2; }
die() {
    say "$*"
    exit 125
}
usage() { sed -n '/^#   bash/,/^#   --verbose/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; }

envs=()
share=$repo/artifacts
timeout=1800
memory=2048M
smp=2
# panic=-1 with -no-reboot: a panic ends QEMU instead of hanging it.
# tsc=reliable: under TCG the kernel finds the TSC unstable and falls back to
# the HPET, whose every read is an emulated MMIO access; QEMU's TSC is derived
# from the host clock and is fine (clock_gettime about twice as fast).
append="console=ttyS0 panic=-1 quiet tsc=reliable"
while (($#)); do
    case $1 in
    -e)
        (($# >= 2)) || die "-e needs NAME=VALUE"
        envs+=("$2")
        shift 2
        ;;
    -e*)
        envs+=("${1#-e}")
        shift
        ;;
    --share | --timeout | --memory | --smp)
        (($# >= 2)) || die "$1 needs a value"
        case $1 in
        --share) share=$2 ;;
        --timeout) timeout=$2 ;;
        --memory) memory=$2 ;;
        --smp) smp=$2 ;;
        esac
        shift 2
        ;;
    --verbose)
        append="console=ttyS0 panic=-1 tsc=reliable pmipv6.verbose"
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        break
        ;;
    -*)
        usage
        die "unknown option $1"
        ;;
    *) break ;;
    esac
done
(($#)) || {
    usage
    die "no command given"
}
for e in ${envs[@]+"${envs[@]}"}; do
    [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "-e wants NAME=VALUE, got: $e"
done
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got: $timeout"

# Any failure while preparing is the VM's failure, not the command's.
trap 'say "setup failed at line $LINENO"; exit 125' ERR

# --- host packages -------------------------------------------------------
# qemu-system-x86: the emulator. kmod: depmod for the extracted modules, and
# the guest's /sbin/modprobe (the kernel's autoloader runs the host's binary
# through the shared root). busybox is not installed: busybox-static conflicts
# with the busybox package, so its .deb is only downloaded into the cache.
missing=()
for pkg in qemu-system-x86 kmod python3; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- cache: kernel package, busybox, initramfs -------------------------------
cache=${PMIPV6_VM_CACHE:-/var/cache/pmipv6-vm}
mkdir -p "$cache"
# Canonical (no symlinks): the guest resolves these paths under its new root.
cache=$(realpath "$cache")

# apt-get download <exact name> into the cache and extract it; prints where. Into a
# directory _apt can write, or apt warns that it downloads unsandboxed.
fetch_deb() {
    local pkg=$1 dl
    dl=$(mktemp -d "$cache/download.XXXXXX")
    chown _apt "$dl" 2>/dev/null || true
    if ! (cd "$dl" && apt-get download -q=2 "$pkg" 2>/dev/null); then
        # Stale lists point at versions the mirror no longer has.
        apt-get update -qq
        (cd "$dl" && apt-get download -q=2 "$pkg")
    fi
    dpkg-deb -x "$dl"/*.deb "$dl/root"
    rm -f "$dl"/*.deb
    printf '%s\n' "$dl/root"
}

kpkg=${PMIPV6_VM_KERNEL:-}
if [ -z "$kpkg" ]; then
    resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'; }
    # No lists yet (a fresh machine) gives nothing: update once and ask again.
    kpkg=$(resolve || true)
    if [ -z "$kpkg" ]; then
        apt-get update -qq || true
        kpkg=$(resolve || true)
    fi
    if [ -z "$kpkg" ]; then
        # Offline and no lists: whatever kernel was fetched last.
        kpkg=$(find "$cache" -maxdepth 1 -name 'linux-image-*' -printf '%f\n' | sort -V | tail -1)
    fi
    [ -n "$kpkg" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-cache depends linux-image-amd64)"
fi
[[ $kpkg =~ ^linux-image-[0-9][A-Za-z0-9.+-]*$ ]] || die "not a kernel package name: $kpkg"
kver=${kpkg#linux-image-}
kdir=$cache/$kpkg
if [ ! -f "$kdir/.complete" ]; then
    say "downloading $kpkg (about 70 MB, once)"
    root=$(fetch_deb "$kpkg")
    # The package ships no modules.dep: its postinst runs depmod. modprobe and
    # mkinitramfs.py need it.
    depmod -b "$root" "$kver"
    touch "$root/.complete"
    rm -rf "$kdir"
    mv "$root" "$kdir"
    rmdir "$(dirname "$root")"
    # Only the current kernel is kept: each one is about 470 MB extracted.
    find "$cache" -maxdepth 1 -name 'linux-image-*' ! -name "$kpkg" -exec rm -rf {} +
fi
vmlinuz=$kdir/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "$vmlinuz missing: remove $kdir and retry"
# The uncompressed ELF boots about 7 s sooner under TCG (see extract-vmlinux.py).
# If it cannot be had, the bzImage still works; remember that, not to retry.
kernel=$kdir/boot/vmlinux-$kver
if [ ! -f "$kernel" ] && [ ! -f "$kernel.none" ]; then
    python3 "$here/vm/extract-vmlinux.py" "$vmlinuz" "$kernel" || touch "$kernel.none"
fi
[ -f "$kernel" ] || kernel=$vmlinuz

busybox=$cache/busybox-static/bin/busybox
if [ ! -x "$busybox" ]; then
    say "downloading busybox-static (once)"
    root=$(fetch_deb busybox-static)
    rm -rf "$cache/busybox-static"
    mv "$root" "$cache/busybox-static"
    rmdir "$(dirname "$root")"
fi

# Rebuilt whenever the kernel, busybox or the scripts that go into it change.
key=$(cat "$here/vm/init" "$here/vm/stage2" "$here/vm/mkinitramfs.py" "$busybox" "$kdir/lib/modules/$kver/modules.dep" |
    sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [ ! -f "$initrd" ]; then
    find "$cache" -maxdepth 1 -name 'initramfs-*' -delete
    python3 "$here/vm/mkinitramfs.py" --moddir "$kdir/lib/modules/$kver" --busybox "$busybox" \
        --init "$here/vm/init" --stage2 "$here/vm/stage2" --out "$initrd"
fi

# --- the job -----------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmipv6-vm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
job=$tmp/job
mkdir "$job"

if [ -n "$share" ]; then
    mkdir -p "$share"
    share=$(realpath "$share")
fi

# Sourced by busybox sh in the initramfs: single-quoted values.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
    echo "vm_modules_dir=$(sq "$kdir/lib/modules")"
    echo "vm_share_dir=$(sq "$share")"
} >"$job/config"

# Run by the guest's bash with an empty environment: this is all it gets.
# Colours only when a person is watching.
if [ -t 1 ]; then term=${TERM:-dumb}; else term=dumb; fi
{
    echo '#!/bin/bash'
    printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=%q\n' "$term"
    if [ -n "${CI+set}" ]; then printf 'export CI=%q\n' "$CI"; fi
    for e in ${envs[@]+"${envs[@]}"}; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
    printf 'cd -- %q || { echo "stock-kernel: the working directory is not visible in the guest" >&2; exit 125; }\n' "$PWD"
    printf 'exec'
    printf ' %q' "$@"
    echo
} >"$job/run"

# --- the VM ------------------------------------------------------------------
# QEMU's option parser takes ",," for a comma inside a value.
qpath() { printf '%s' "${1//,/,,}"; }
# shellcheck disable=SC2054 # the commas are inside QEMU option values
qemu=(qemu-system-x86_64
    # TCG: -enable-kvm hangs in early boot on these machines. thread=multi
    # runs each vCPU on its own host thread. -erms: with "enhanced rep movsb"
    # the guest kernel clears and copies pages with rep stosb/movsb, which TCG
    # emulates a byte at a time; without it, rep stosq/movsq: page faults and
    # read() 5 to 9 times faster (measured: a 64 MiB bytearray 1.7 s -> 0.3 s).
    -accel tcg,thread=multi -cpu max,-erms -smp "$smp" -m "$memory"
    # No default devices (no NIC, no VGA): the serial console is the only I/O.
    -nodefaults -no-user-config -nographic -no-reboot -serial stdio
    # qboot instead of SeaBIOS: starts faster and prints nothing on the serial line.
    -bios qboot.rom -kernel "$kernel" -initrd "$initrd"
    -append "$append"
    # The host's root, read-only. multidevs=remap: / spans several host file
    # systems, whose inode numbers would otherwise collide in the guest.
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$(qpath "$job"),mount_tag=pmipv6job,security_model=none"
)
if [ -n "$share" ]; then
    qemu+=(-virtfs "local,path=$(qpath "$share"),mount_tag=pmipv6share,security_model=none")
fi

trap - ERR
started=$(date +%s)
set +e
# --foreground: Ctrl-C reaches QEMU. The serial line ends lines with CR LF;
# the kernel's last words on poweroff are noise.
timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null 2>&1 |
    sed -u -e 's/\r$//' -e '/^\[ *[0-9.]*\] reboot: Power down$/d' | tee "$tmp/console.log"
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))
# The guest's last line may lack its newline; ours goes on a line of its own.
[ -z "$(tail -c1 "$tmp/console.log")" ] || echo

# The file in the job directory is authoritative. The console marker counts
# only as the very last line, so that a command printing one proves nothing.
rc=
if [ -s "$job/rc" ]; then
    rc=$(<"$job/rc")
else
    rc=$(tail -n 1 "$tmp/console.log" | sed -n 's/^PMIPV6-VM-EXIT=\([0-9]\{1,3\}\)$/\1/p')
fi
if [[ $rc =~ ^[0-9]+$ ]]; then
    say "$kpkg: command exited with status $rc (VM ran ${elapsed} s)"
    exit "$rc"
fi
if [ "$qemu_rc" -eq 124 ]; then
    say "$kpkg: timed out after $timeout s (--timeout)"
    exit 124
fi
if grep -q 'Kernel panic' "$tmp/console.log"; then
    die "$kpkg: kernel panic (console above), after ${elapsed} s"
fi
if grep -q '^PMIPV6-VM-ERROR' "$tmp/console.log"; then
    die "$kpkg: the guest failed before running the command (console above)"
fi
die "$kpkg: the VM stopped (QEMU status $qemu_rc) without reporting the command's exit status"
