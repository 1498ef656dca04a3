"""The policy store (RFC 5213 §2.2): who the mobile nodes are and who may serve them.

The paper's testbed had a policy server the MAGs asked on attachment; here the
same data is a YAML file shared by the LMA and the MAGs (see
:class:`pmip6d.config.PolicyFile`). This module turns the validated file into
lookup tables, checks what a schema cannot (duplicates, dangling names,
overlapping prefixes: the rules of :mod:`pmip6d.rules`) and answers the
questions the state machines ask.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, LmaEntry, PolicyFile, load
from .rules import Unique, overlaps, parse_mac
from .wire.prefix import Prefix


@dataclass(slots=True, frozen=True)
class MobileNodeProfile:
    mn_id: bytes
    macs: tuple[bytes, ...]
    lma: str
    """Address of the LMA that serves this mobile node."""
    hnps: tuple[Prefix, ...]
    enabled: bool = True
    mags: frozenset[str] | None = None
    """Proxy-CoAs allowed to register this mobile node; None = any MAG the LMA accepts."""


@dataclass(slots=True, frozen=True)
class LmaView:
    """What one LMA needs from the policy store."""

    name: str
    address: str
    accepted_mags: frozenset[str]
    serve_unlisted: bool
    profiles: dict[bytes, MobileNodeProfile]
    fixed_prefixes: tuple[tuple[Prefix, str], ...]
    """Every fixed HNP in the domain with the field that names it, for overlap checks."""
    elsewhere: dict[bytes, MobileNodeProfile] = dataclasses.field(default_factory=dict)
    """Mobile nodes the policy gives to another LMA: listed, so never served as unlisted
    (RFC 5213 §5.3.1: NOT_LMA_FOR_THIS_MOBILE_NODE)."""

    def profile(self, mn_id: bytes) -> MobileNodeProfile | None:
        found = self.profiles.get(mn_id)
        if found is None:
            found = self.elsewhere.get(mn_id)  # its ``lma`` is not ours: refused
        if found is None and self.serve_unlisted:
            return MobileNodeProfile(mn_id, (), self.address, ())
        return found


@dataclass(slots=True, frozen=True)
class MagView:
    """What one MAG needs from the policy store."""

    name: str
    address: str
    domain: str
    by_mac: dict[bytes, MobileNodeProfile]
    default_lma: str | None

    def profile_for_mac(self, mac: bytes) -> MobileNodeProfile | None:
        found = self.by_mac.get(mac)
        if found is None and self.default_lma is not None:
            mn_id = f"{mac.hex()}@{self.domain}".encode()
            return MobileNodeProfile(mn_id, (mac,), self.default_lma, ())
        return found


class Policy:
    """A validated policy file with its lookup tables."""

    def __init__(self, doc: PolicyFile, path: Path | str = "policy") -> None:
        self.path = Path(path)
        self.doc = doc
        self.domain = doc.domain
        self.mag_address: dict[str, str] = {}
        self.lma_entries: dict[str, LmaEntry] = {}
        self.profiles: dict[bytes, MobileNodeProfile] = {}
        self.by_mac: dict[bytes, MobileNodeProfile] = {}
        self.fixed_prefixes: list[tuple[Prefix, str]] = []
        self._build()

    @classmethod
    def load(cls, path: Path | str) -> Policy:
        return cls(load(path, PolicyFile), path)

    def _fail(self, field: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {field}: {message}")

    def _build(self) -> None:
        doc = self.doc
        addresses = Unique()
        for i, mag in enumerate(doc.mags):
            if mag.name in self.mag_address:
                raise self._fail(f"mags[{i}].name", f"MAG {mag.name!r} is listed twice")
            other = addresses.claim(mag.address, f"mags[{i}]")
            if other is not None:
                raise self._fail(f"mags[{i}].address", f"{mag.address} is also {other}")
            self.mag_address[mag.name] = mag.address
        for i, lma in enumerate(doc.lmas):
            if lma.name in self.lma_entries:
                raise self._fail(f"lmas[{i}].name", f"LMA {lma.name!r} is listed twice")
            other = addresses.claim(lma.address, f"lmas[{i}]")
            if other is not None:
                raise self._fail(f"lmas[{i}].address", f"{lma.address} is also {other}")
            for j, mag_name in enumerate(lma.accept_mags):
                if mag_name not in self.mag_address:
                    raise self._fail(
                        f"lmas[{i}].accept_mags[{j}]", f"no MAG named {mag_name!r} in mags"
                    )
            self.lma_entries[lma.name] = lma
        nets: list[tuple[ipaddress.IPv6Network, str]] = []
        macs = Unique()
        for i, mn in enumerate(doc.mobile_nodes):
            where = f"mobile_nodes[{i}]"
            mn_id = mn.id.encode()
            if mn_id in self.profiles:
                raise self._fail(f"{where}.id", f"mobile node {mn.id!r} is listed twice")
            lma = self.lma_entries.get(mn.lma)
            if lma is None:
                raise self._fail(f"{where}.lma", f"no LMA named {mn.lma!r} in lmas")
            allowed = None
            if mn.mags is not None:
                for j, mag_name in enumerate(mn.mags):
                    if mag_name not in self.mag_address:
                        raise self._fail(f"{where}.mags[{j}]", f"no MAG named {mag_name!r} in mags")
                allowed = frozenset(self.mag_address[m] for m in mn.mags)
            hnps = []
            for j, text in enumerate(mn.hnps):
                net = ipaddress.IPv6Network(text)
                nets.append((net, f"{where}.hnps[{j}]"))
                prefix = Prefix(net.network_address.packed, net.prefixlen)
                hnps.append(prefix)
                self.fixed_prefixes.append((prefix, f"{self.path}: {where}.hnps[{j}]"))
            macs_of_node = tuple(parse_mac(m) for m in mn.macs)
            profile = MobileNodeProfile(
                mn_id, macs_of_node, lma.address, tuple(hnps), mn.enabled, allowed
            )
            for j, mac in enumerate(macs_of_node):
                other = macs.claim(mac, f"mobile node {mn.id!r}")
                if other is not None:
                    raise self._fail(f"{where}.macs[{j}]", f"{mn.macs[j]} is also {other}")
                self.by_mac[mac] = profile
            self.profiles[mn_id] = profile
        for net, field, other, other_where in overlaps(nets):
            raise self._fail(field, f"{net} overlaps {other_where} ({other})")

    def lma_view(self, name: str, config_path: Path | str = "config") -> LmaView:
        entry = self.lma_entries.get(name)
        if entry is None:
            raise ConfigError(f"{config_path}: name: no LMA named {name!r} in {self.path}")
        address = entry.address
        return LmaView(
            name=name,
            address=address,
            accepted_mags=frozenset(self.mag_address[m] for m in entry.accept_mags),
            serve_unlisted=entry.serve_unlisted,
            profiles={k: p for k, p in self.profiles.items() if p.lma == address},
            fixed_prefixes=tuple(self.fixed_prefixes),
            elsewhere={k: p for k, p in self.profiles.items() if p.lma != address},
        )

    def mag_view(
        self, name: str, default_lma: str | None = None, config_path: Path | str = "config"
    ) -> MagView:
        if name not in self.mag_address:
            raise ConfigError(f"{config_path}: name: no MAG named {name!r} in {self.path}")
        default_address = None
        if default_lma is not None:
            entry = self.lma_entries.get(default_lma)
            if entry is None:
                raise ConfigError(
                    f"{config_path}: default_lma: no LMA named {default_lma!r} in {self.path}"
                )
            if not entry.serve_unlisted:
                raise ConfigError(
                    f"{config_path}: default_lma: LMA {default_lma!r} does not serve unlisted "
                    f"mobile nodes (set serve_unlisted in {self.path})"
                )
            default_address = entry.address
        return MagView(
            name=name,
            address=self.mag_address[name],
            domain=self.domain,
            by_mac=self.by_mac,
            default_lma=default_address,
        )

    def address_of(self, name: str) -> str:
        if name in self.mag_address:
            return self.mag_address[name]
        return self.lma_entries[name].address
