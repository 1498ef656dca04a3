"""The ``signaling_security`` setting against the policy, and which ESP runs it.

Checked at load, before any socket opens (so ``--check`` refuses the same): every
SA's peer is a name in the policy (a MAG for an LMA, an LMA for a MAG), and with
mode esp every peer this agent signals with has one, since a peer without an SA
could never register and the mistake is better met at start than at the first PBU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, PeerSecurityAssociations, SignalingSecurity
from ..errors import EXIT_KERNEL, PmipError

if TYPE_CHECKING:
    from ..policy import Policy

EspPeers = list[tuple[str, PeerSecurityAssociations]]
"""(peer address, its SAs), the shape KernelEsp and EspSocket take."""


class NoKernelEsp(PmipError):
    """``implementation: kernel`` on a kernel without ESP/rfc4106."""

    exit_status = EXIT_KERNEL


def esp_peers(
    security: SignalingSecurity | None,
    role: str,
    name: str,
    policy: Policy,
    config_path: Path | str,
) -> EspPeers:
    """The peers' addresses with their SAs; [] with mode none. ConfigError names the field."""
    if security is None or security.mode != "esp":
        return []
    if role == "lma":
        addresses = dict(policy.mag_address)
        needed = sorted(policy.lma_entries[name].accept_mags)
        kind, why = "MAG", f"in accept_mags of LMA {name!r}"
    else:
        addresses = {n: e.address for n, e in policy.lma_entries.items()}
        needed = sorted(n for n, e in policy.lma_entries.items() if name in e.accept_mags)
        kind, why = "LMA", f"accepting MAG {name!r}"
    out: EspPeers = []
    for i, sa in enumerate(security.security_associations):
        if sa.peer not in addresses:
            raise ConfigError(
                f"{config_path}: signaling_security.security_associations[{i}].peer: "
                f"no {kind} named {sa.peer!r} in {policy.path}"
            )
        out.append((addresses[sa.peer], sa))
    covered = {sa.peer for sa in security.security_associations}
    for peer in needed:
        if peer not in covered:
            raise ConfigError(
                f"{config_path}: signaling_security.security_associations: no entry for "
                f"{kind} {peer!r} ({why}); with mode esp its signaling could not be protected"
            )
    return out


def _kernel_has_esp() -> bool:
    try:
        # Lazy: the kernel implementation is a module the agent's own ESP must not need.
        from .xfrm import kernel_has_esp
    except ImportError:
        return False
    return kernel_has_esp()


def choose_implementation(security: SignalingSecurity, config_path: Path | str) -> str:
    """'kernel' or 'agent' for mode esp (``auto``: the kernel's if it has ESP + rfc4106)."""
    if security.implementation == "agent":
        return "agent"
    if _kernel_has_esp():
        return "kernel"
    if security.implementation == "kernel":
        raise NoKernelEsp(
            f"{config_path}: signaling_security.implementation: kernel, but this kernel "
            "has no ESP with rfc4106(gcm(aes)) (esp6, xfrm); use agent or auto"
        )
    return "agent"
