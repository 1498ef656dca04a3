"""The ``bpf(2)`` system call, for the few commands the tunnel backend needs.

Load a program, create a map, update/delete/look up map elements, and run a
program on a test packet (``BPF_PROG_TEST_RUN``, used by the tests to feed
the real verifier-checked programs with crafted packets). No libbpf, no ELF:
the programs are assembled in Python (:mod:`.ebpf_programs`), so the agent
stays pure Python and needs no compiler or loader library on the host.

``union bpf_attr`` is passed as a zero-filled buffer with the fields of the
command packed at their ``include/uapi/linux/bpf.h`` offsets; the kernel
accepts a shorter structure than its own as long as what it does not know is
zero.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

from ..errors import PmipError

# __NR_bpf per architecture (arch/*/include/uapi/asm/unistd*.h, syscall tables)
_NR_BPF = {
    "x86_64": 321,
    "amd64": 321,
    "i386": 357,
    "i686": 357,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "armv7l": 386,
    "armv6l": 386,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "mips64": 5315,
}

# commands
MAP_CREATE = 0
MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
MAP_DELETE_ELEM = 3
MAP_GET_NEXT_KEY = 4
PROG_LOAD = 5
PROG_TEST_RUN = 10

# program types
PROG_TYPE_SCHED_CLS = 3
PROG_TYPE_LWT_XMIT = 12

# map types
MAP_TYPE_HASH = 1
MAP_TYPE_PERCPU_ARRAY = 6

# map update flags
ANY = 0

OBJ_NAME_LEN = 16
_LOG_SIZE = 1 << 16


class BpfError(OSError, PmipError):
    """``bpf(2)`` failed; ``log`` holds the verifier's explanation when there is one."""

    def __init__(self, err: int, what: str, log: str = "") -> None:
        message = f"{what}: {os.strerror(err)}"
        if err == errno.EPERM:
            message += " (needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN)"
        if log:
            last = [line for line in log.strip().splitlines() if line.strip()][-3:]
            message += f"; verifier: {' | '.join(last)}"
        super().__init__(err, message)
        self.log = log


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _nr_bpf() -> int:
    machine = platform.machine()
    try:
        return _NR_BPF[machine]
    except KeyError:
        raise BpfError(errno.ENOSYS, f"bpf(2) on {machine}: unknown system call number") from None


def _bpf(cmd: int, attr: ctypes.Array, what: str) -> int:
    result = _libc.syscall(_nr_bpf(), cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if result < 0:
        raise BpfError(ctypes.get_errno(), what)
    return result


def _attr(size: int, fmt: str, *fields: object) -> ctypes.Array:
    buf = ctypes.create_string_buffer(size)
    struct.pack_into(fmt, buf, 0, *fields)
    return buf


def _addr(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _name(name: str) -> bytes:
    raw = name.encode()[: OBJ_NAME_LEN - 1]
    if not all(c.isalnum() or c in "_." for c in raw.decode()):
        raise ValueError(f"BPF object name {name!r}: only letters, digits, '_' and '.'")
    return raw


def prog_load(prog_type: int, insns: bytes, name: str, license: str = "GPL") -> int:
    """Load a program; its file descriptor. On refusal, the verifier log is in the error."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())

    def attempt(log: ctypes.Array | None) -> int:
        attr = _attr(
            128,
            "=IIQQIIQII16s",
            prog_type,
            len(insns) // 8,
            _addr(code),
            _addr(lic),
            1 if log is not None else 0,  # log_level
            len(log) if log is not None else 0,
            _addr(log),
            0,  # kern_version
            0,  # prog_flags
            _name(name),
        )
        return _bpf(PROG_LOAD, attr, f"load BPF program {name}")

    try:
        return attempt(None)
    except BpfError as exc:
        if exc.errno != errno.EACCES and exc.errno != errno.EINVAL:
            raise
    # Refused by the verifier: load again with a log to say why.
    log = ctypes.create_string_buffer(_LOG_SIZE)
    try:
        return attempt(log)
    except BpfError as exc:
        text = log.value.decode(errors="replace")
        raise BpfError(exc.errno, f"load BPF program {name}", text) from None


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, name: str) -> int:
    attr = _attr(
        64,
        "=IIIIIII16s",
        map_type,
        key_size,
        value_size,
        max_entries,
        0,  # map_flags
        0,  # inner_map_fd
        0,  # numa_node
        _name(name),
    )
    return _bpf(MAP_CREATE, attr, f"create BPF map {name}")


def _elem(cmd: int, fd: int, key: bytes, value: ctypes.Array | None, flags: int, what: str) -> int:
    kbuf = ctypes.create_string_buffer(key, len(key))
    attr = _attr(32, "=IxxxxQQQ", fd, _addr(kbuf), _addr(value), flags)
    return _bpf(cmd, attr, what)


def map_update(fd: int, key: bytes, value: bytes, flags: int = ANY) -> None:
    vbuf = ctypes.create_string_buffer(value, len(value))
    _elem(MAP_UPDATE_ELEM, fd, key, vbuf, flags, "update BPF map element")


def map_delete(fd: int, key: bytes) -> bool:
    """Delete one element; False if it was not there."""
    try:
        _elem(MAP_DELETE_ELEM, fd, key, None, 0, "delete BPF map element")
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    vbuf = ctypes.create_string_buffer(value_size)
    try:
        _elem(MAP_LOOKUP_ELEM, fd, key, vbuf, 0, "look up BPF map element")
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return vbuf.raw


def map_keys(fd: int, key_size: int) -> list[bytes]:
    """Every key of a hash map (``BPF_MAP_GET_NEXT_KEY`` from no key)."""
    keys: list[bytes] = []
    current: bytes | None = None
    while True:
        kbuf = ctypes.create_string_buffer(current, key_size) if current is not None else None
        nbuf = ctypes.create_string_buffer(key_size)
        attr = _attr(32, "=IxxxxQQ", fd, _addr(kbuf), _addr(nbuf))
        try:
            _bpf(MAP_GET_NEXT_KEY, attr, "walk BPF map")
        except BpfError as exc:
            if exc.errno == errno.ENOENT:
                return keys
            raise
        current = nbuf.raw
        keys.append(current)


def possible_cpus() -> int:
    """How many values a per-CPU map element holds (one per *possible* CPU)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
    except OSError:
        return os.cpu_count() or 1
    count = 0
    for part in text.split(","):
        low, _sep, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


@dataclass(frozen=True, slots=True)
class TestRun:
    retval: int
    data: bytes


def prog_test_run(fd: int, data: bytes, out_size: int | None = None) -> TestRun:
    """Run a loaded program once on ``data`` (as an skb); its verdict and the packet after."""
    size = out_size or len(data) + 256
    din = ctypes.create_string_buffer(data, len(data))
    dout = ctypes.create_string_buffer(size)
    attr = _attr(80, "=IIIIQQII", fd, 0, len(data), size, _addr(din), _addr(dout), 1, 0)
    _bpf(PROG_TEST_RUN, attr, "test-run BPF program")
    _fd, retval, _size_in, size_out = struct.unpack_from("=IIII", attr, 0)
    return TestRun(retval, dout.raw[:size_out])


def close(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        os.close(fd)
