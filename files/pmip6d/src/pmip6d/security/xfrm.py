"""The kernel's ESP (xfrm, esp6) for the Mobility Header between this agent and its peers.

For each peer, two transport-mode SAs with ``rfc4106(gcm(aes))`` and a 128-bit
ICV (outbound: this agent -> peer; inbound: peer -> this agent) and two
policies on the selector local/128 <-> peer/128, protocol 135 (Mobility
Header) with ``level required``: the kernel encrypts every MH we send the
peer, decrypts what it sends us before our raw MH socket sees it, and drops an
MH from the peer that came unprotected (XfrmInTmplMismatch), failed its ICV
(XfrmInStateProtoError), is a replay (XfrmInStateSeqError) or has an unknown
SPI (XfrmInNoStates).

Everything goes through iproute2 (``ip xfrm``; it speaks netlink, and pyroute2
has no usable xfrm support). Keys never appear on a command line, where any
local user could read them in /proc/<pid>/cmdline: the commands that carry
them are fed to ``ip -batch -`` on stdin, and every error message is scrubbed
of them before it leaves this module.

iproute2's xfrm commands end a batch at the first kernel refusal (they exit
rather than return), and ``deleteall`` ends it even on success; so the
deletions that must tolerate "nothing there" run one ``deleteall`` per
invocation, and the batch holds only commands that must all succeed.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import EXIT_KERNEL, PmipError

AEAD = "rfc4106(gcm(aes))"
ICV_BITS = 128
IPPROTO_MH = 135
KEY_BYTES = {"aes128-gcm16": 16 + 4, "aes256-gcm16": 32 + 4}
"""The AES key followed by the 4-byte salt, as the kernel's rfc4106 takes it (RFC 4106 §8.1)."""
XFRM_STAT = "/proc/net/xfrm_stat"

COUNTERS = {
    "esp_unprotected_dropped": "XfrmInTmplMismatch",
    "esp_auth_failed": "XfrmInStateProtoError",
    "esp_replayed": "XfrmInStateSeqError",
    "esp_unknown_spi": "XfrmInNoStates",
}
"""pmipctl's name -> the kernel's counter (per network namespace, every protocol)."""


class _SaKey(Protocol):
    @property
    def spi(self) -> int: ...
    @property
    def key_bytes(self) -> bytes: ...


class _PeerSas(Protocol):
    @property
    def algorithm(self) -> str: ...
    @property
    def outbound(self) -> _SaKey: ...
    @property
    def inbound(self) -> _SaKey: ...


class XfrmError(PmipError, OSError):
    """The kernel (or iproute2) refused the ESP setup; the message holds no key."""

    exit_status = EXIT_KERNEL


@dataclass(frozen=True)
class _State:
    src: str
    dst: str
    spi: int
    key: bytes

    def ident(self) -> str:
        return f"src {self.src} dst {self.dst} proto esp spi {self.spi:#x}"


@dataclass(frozen=True)
class _Policy:
    direction: str
    src: str
    dst: str

    def selector(self) -> str:
        return f"dir {self.direction} src {self.src}/128 dst {self.dst}/128 proto {IPPROTO_MH}"


def _plan(local: str, peers: Sequence[tuple[str, _PeerSas]]) -> tuple[list[_State], list[_Policy]]:
    states: list[_State] = []
    policies: list[_Policy] = []
    for peer, sas in peers:
        wanted = KEY_BYTES.get(sas.algorithm)
        if wanted is None:
            raise XfrmError(f"ESP to {peer}: unknown algorithm {sas.algorithm!r}")
        for direction, key in (("outbound", sas.outbound), ("inbound", sas.inbound)):
            if len(key.key_bytes) != wanted:
                raise XfrmError(
                    f"ESP to {peer}: {direction} key of SPI {key.spi} is "
                    f"{len(key.key_bytes)} bytes, {sas.algorithm} needs {wanted}"
                )
        states.append(_State(local, peer, sas.outbound.spi, sas.outbound.key_bytes))
        states.append(_State(peer, local, sas.inbound.spi, sas.inbound.key_bytes))
        policies.append(_Policy("out", local, peer))
        policies.append(_Policy("in", peer, local))
    return states, policies


def _state_add(state: _State, replay_window: int) -> str:
    return (
        f"xfrm state add {state.ident()} mode transport replay-window {replay_window} "
        f"aead {AEAD} 0x{state.key.hex()} {ICV_BITS}"
    )


def install_batch(local: str, peers: Sequence[tuple[str, _PeerSas]], replay_window: int) -> str:
    """The ``ip -batch`` text that adds the SAs and adds or replaces the policies (holds keys)."""
    states, policies = _plan(local, peers)
    lines = [_state_add(s, replay_window) for s in states]
    lines += [
        f"xfrm policy update {p.selector()} tmpl proto esp mode transport level required"
        for p in policies
    ]
    return "".join(line + "\n" for line in lines)


def removal_commands(local: str, peers: Sequence[tuple[str, _PeerSas]]) -> list[list[str]]:
    """``ip`` argument lists deleting exactly what install adds (no keys; absent is fine).

    Policies first, then states: in between, an MH to the peer finds a policy
    without its SA and is dropped, never sent in clear.
    """
    states, policies = _plan(local, peers)
    out = [["xfrm", "policy", "deleteall", *p.selector().split()] for p in policies]
    out += [["xfrm", "state", "deleteall", *s.ident().split()] for s in states]
    return out


def _scrub(text: str, secrets_: Iterable[bytes]) -> str:
    for key in secrets_:
        for form in (key.hex(), key.hex().upper()):
            text = text.replace(form, "<key>")
    return text.strip()


class _Ip:
    """Runs iproute2, optionally in a named network namespace (``ip -n``)."""

    def __init__(self, netns: str | None = None) -> None:
        self.base = ["ip", "-n", netns] if netns else ["ip"]

    def run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [*self.base, *args], input=stdin, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise XfrmError(f"cannot run ip (iproute2): {exc.strerror}") from None

    def batch(self, text: str, keys: Iterable[bytes], what: str) -> None:
        done = self.run(["-batch", "-"], stdin=text)
        if done.returncode != 0:
            why = _scrub(done.stderr or done.stdout, keys) or f"ip exited {done.returncode}"
            raise XfrmError(f"{what}: {why}")

    def each(self, commands: list[list[str]], what: str) -> None:
        for args in commands:
            done = self.run(args)
            if done.returncode != 0:
                raise XfrmError(f"{what}: ip {' '.join(args)}: {done.stderr.strip()}")


def kernel_has_esp(netns: str | None = None) -> bool:
    """Whether this kernel takes an rfc4106(gcm(aes)) transport SA (esp6 with AEAD).

    Adds a throwaway state on ::1 with a random SPI and key, and deletes it
    again only if the add succeeded (so another program's state with the same
    SPI is never touched).
    """
    ip = _Ip(netns)
    for _attempt in range(4):
        spi = 256 + secrets.randbelow(2**32 - 256)
        probe = _State("::1", "::1", spi, secrets.token_bytes(KEY_BYTES["aes128-gcm16"]))
        try:
            added = ip.run(["-batch", "-"], stdin=_state_add(probe, 0) + "\n")
        except XfrmError:
            return False
        if added.returncode == 0:
            ip.run(["xfrm", "state", "delete", *probe.ident().split()])
            return True
        if "File exists" not in added.stderr:
            return False
    return False


def parse_xfrm_stat(text: str) -> dict[str, int]:
    """``/proc/net/xfrm_stat`` as {kernel counter name: value}."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def read_counters(path: str = XFRM_STAT) -> dict[str, int]:
    """The drop counters pmipctl shows (0 when the kernel has no xfrm statistics)."""
    try:
        with open(path, encoding="ascii") as f:
            stat = parse_xfrm_stat(f.read())
    except OSError:
        stat = {}
    return {name: stat.get(kernel, 0) for name, kernel in COUNTERS.items()}


class KernelEsp:
    """The SAs and policies for ``peers`` ((peer address, its SA config) pairs).

    ``install`` is idempotent: it first deletes whatever a previous run left
    with the same SPIs and selectors, then adds. ``remove`` deletes exactly
    those, and succeeds when they are already gone.
    """

    def __init__(
        self,
        local: str,
        peers: Sequence[tuple[str, _PeerSas]],
        replay_window: int = 64,
        netns: str | None = None,
    ) -> None:
        self.local = local
        self.peers = list(peers)
        self.replay_window = replay_window
        self._ip = _Ip(netns)
        _plan(local, self.peers)  # fail on a bad key length now, not halfway through install

    def __repr__(self) -> str:
        return f"KernelEsp(local={self.local!r}, peers={[p for p, _sas in self.peers]!r})"

    def _keys(self) -> list[bytes]:
        return [k.key_bytes for _peer, sas in self.peers for k in (sas.outbound, sas.inbound)]

    def install(self) -> None:
        if not self.peers:
            return
        # States first out of the way (an SA cannot be replaced in place by add,
        # and update fails when it is absent); policies are updated in place.
        states = [c for c in removal_commands(self.local, self.peers) if c[1] == "state"]
        self._ip.each(states, "removing the previous ESP states")
        self._ip.batch(
            install_batch(self.local, self.peers, self.replay_window),
            self._keys(),
            f"installing ESP (xfrm {AEAD}) for {len(self.peers)} peer(s)",
        )

    def remove(self) -> None:
        self._ip.each(removal_commands(self.local, self.peers), "removing ESP (xfrm)")

    @staticmethod
    def counters(path: str = XFRM_STAT) -> dict[str, int]:
        return read_counters(path)


__all__ = [
    "AEAD",
    "COUNTERS",
    "ICV_BITS",
    "KernelEsp",
    "XfrmError",
    "install_batch",
    "kernel_has_esp",
    "parse_xfrm_stat",
    "read_counters",
    "removal_commands",
]
