"""Agent configuration and policy files: schemas, loading, one clear error.

Every file is read with a schema (pydantic) that forbids unknown keys, so a
typo fails at start instead of being silently ignored. Whatever is wrong is
reported as a single :class:`ConfigError` whose message names the file and
the field, e.g. ``policy.yml: mobile_nodes[2].macs[0]: not a MAC address``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from . import defaults
from .wire.prefix import canonical_address


class ConfigError(Exception):
    """A configuration or policy file that cannot be used; the message says where and why."""


# --------------------------------------------------------------------------- field types

_MAC_HEX = re.compile(r"^[0-9a-fA-F]{12}$")


def parse_mac(text: str) -> bytes:
    """``02:00:5e:00:53:01``, ``02-00-5e-00-53-01`` or Cisco's ``0200.5e00.5301`` → 6 bytes."""
    digits = text.replace(":", "").replace("-", "").replace(".", "")
    if not _MAC_HEX.match(digits):
        raise ValueError(f"{text!r} is not a MAC address")
    return bytes.fromhex(digits)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def _mac(value: Any) -> Any:
    if isinstance(value, int):
        # YAML 1.1 reads some unquoted MACs (12:34:56:...) as base-60 numbers.
        raise ValueError("a MAC address must be quoted; YAML read this one as a number")
    if not isinstance(value, str):
        raise ValueError("a MAC address must be a string")
    return mac_text(parse_mac(value))


def _address(value: str) -> str:
    try:
        return canonical_address(value)
    except (OSError, ValueError):
        raise ValueError(f"{value!r} is not an IPv6 address") from None


def _any_ip(value: str) -> str:
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _prefix(value: str) -> str:
    try:
        return str(ipaddress.IPv6Network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv6 prefix ({exc})") from None


def _link_local(value: str) -> str:
    value = _address(value)
    if not ipaddress.IPv6Address(value).is_link_local:
        raise ValueError(f"{value} is not a link-local (fe80::/10) address")
    return value


MacAddress = Annotated[str, BeforeValidator(_mac)]
IPv6Address = Annotated[str, AfterValidator(_address)]
IPv6Prefix = Annotated[str, AfterValidator(_prefix)]
IPAddress = Annotated[str, AfterValidator(_any_ip)]
LinkLocalAddress = Annotated[str, AfterValidator(_link_local)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
LogLevel = Literal["debug", "info", "warning", "error"]
ReplayProtection = Literal["timestamp", "sequence"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- policy file


class MagEntry(_Schema):
    name: Name
    address: IPv6Address
    """The MAG's Proxy-CoA: the address it signals from and terminates tunnels on."""


class LmaEntry(_Schema):
    name: Name
    address: IPv6Address
    """The LMA Address (LMAA)."""
    accept_mags: list[Name] = []
    """MAGs this LMA accepts proxy registrations from (RFC 5213 §4)."""
    serve_unlisted: bool = False
    """Serve mobile nodes that have no profile (pool prefixes, identifier from the MAC)."""


class MobileNodeEntry(_Schema):
    id: Annotated[str, Field(min_length=1, max_length=250)]
    """Mobile node identifier, a Network Access Identifier (RFC 4282)."""
    macs: Annotated[list[MacAddress], Field(min_length=1)]
    lma: Name
    hnps: list[IPv6Prefix] = []
    """Fixed home network prefixes; empty to take one from the LMA's pool."""
    enabled: bool = True
    """False: known but not authorized for proxy mobility (PROXY_REG_NOT_ENABLED)."""
    mags: list[Name] | None = None
    """If given, only these MAGs may register the mobile node."""


class PolicyFile(_Schema):
    domain: Annotated[str, Field(min_length=1)] = "pmipv6.example"
    """Realm of identifiers made up for unlisted mobile nodes (``<mac>@domain``)."""
    mags: list[MagEntry] = []
    lmas: Annotated[list[LmaEntry], Field(min_length=1)]
    mobile_nodes: list[MobileNodeEntry] = []


# --------------------------------------------------------------------------- agent files


class PrefixPool(_Schema):
    prefix: IPv6Prefix
    length: Annotated[int, Field(ge=1, le=128)] = 64
    """Length of each assigned home network prefix."""


InterfaceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,15}$")]

SHARED_MAC = "02:50:4d:49:50:36"
"""Default MAC of every MAG access link ("PMIP6" in a locally administered address)."""


class DataplaneConfig(_Schema):
    """Tunnels and routes (RFC 5213 §5.6, §6.10)."""

    core_interface: InterfaceName
    """Interface towards the peers (MAGs for an LMA, the LMA for a MAG)."""
    backend: Literal["auto", "ip6tnl", "seg6", "ebpf"] = "auto"
    """auto: the first of ip6tnl, seg6, ebpf this kernel supports (same bytes on the wire)."""
    tunnels: Literal["static", "dynamic"] = "static"
    """static: a shared tunnel per peer from start (scenario 2); dynamic: per need (scenario 3)."""
    linger: Annotated[float, Field(ge=0)] = 30.0
    """Dynamic tunnels stay this many seconds after their last binding."""


class AccessConfig(_Schema):
    """The MAG's access links, where mobile nodes attach (RFC 5213 §6.6-§6.8)."""

    interfaces: Annotated[list[InterfaceName], Field(min_length=1)]
    shared_addresses: bool = True
    """Every MAG uses the same link-local address and MAC (RFC 5213 §6.8; the paper's
    key result). False keeps each MAG's own addresses: the paper's scenario 1."""
    mac: MacAddress = SHARED_MAC
    """The shared MAC, when ``shared_addresses``."""
    router_advertisements: dict[str, Any] = {}
    """radvd names, e.g. ``{MaxRtrAdvInterval: 10, AdvValidLifetime: 86400}``."""


class LmaConfig(_Schema):
    name: Name
    """This LMA's entry in the policy file."""
    policy: Path
    control_socket: Path = Path("/run/pmip6d/lma.sock")
    replay_protection: ReplayProtection = defaults.REPLAY_PROTECTION
    timestamp_validity_window_ms: Annotated[int, Field(ge=1)] = (
        defaults.TIMESTAMP_VALIDITY_WINDOW_MS
    )
    min_delay_before_bce_delete_ms: Annotated[int, Field(ge=0)] = (
        defaults.MIN_DELAY_BEFORE_BCE_DELETE_MS
    )
    max_delay_before_new_bce_assign_ms: Annotated[int, Field(ge=0)] = (
        defaults.MAX_DELAY_BEFORE_NEW_BCE_ASSIGN_MS
    )
    max_binding_lifetime: Annotated[int, Field(ge=4, le=0xFFFF * 4)] = defaults.MAX_BINDING_LIFETIME
    prefix_pool: PrefixPool | None = None
    dataplane: DataplaneConfig | None = None
    """Tunnels and routes; without it the LMA only signals (tests, benchmarks)."""
    state_file: Path | None = None
    """Where the binding cache is saved at shutdown and restored from at start."""
    log_level: LogLevel = "info"


class MagConfig(_Schema):
    name: Name
    """This MAG's entry in the policy file."""
    policy: Path
    control_socket: Path = Path("/run/pmip6d/mag.sock")
    replay_protection: ReplayProtection = defaults.REPLAY_PROTECTION
    requested_lifetime: Annotated[int, Field(ge=4, le=0xFFFF * 4)] = defaults.REQUESTED_LIFETIME
    refresh_fraction: Annotated[float, Field(gt=0.1, lt=1.0)] = defaults.REFRESH_FRACTION
    """Re-register when this fraction of the granted lifetime has passed."""
    initial_bindack_timeout_first_reg_ms: Annotated[int, Field(ge=10)] = (
        defaults.INITIAL_BINDACK_TIMEOUT_FIRST_REG_MS
    )
    initial_bindack_timeout_ms: Annotated[int, Field(ge=10)] = defaults.INITIAL_BINDACK_TIMEOUT_MS
    max_bindack_timeout_ms: Annotated[int, Field(ge=10)] = defaults.MAX_BINDACK_TIMEOUT_MS
    access_technology_type: Annotated[int, Field(ge=1, le=255)] = defaults.ACCESS_TECHNOLOGY_TYPE
    link_local_address: LinkLocalAddress = defaults.LINK_LOCAL_ADDRESS
    """The link-local address every MAG uses on its access links (RFC 5213 §6.8)."""
    default_lma: Name | None = None
    """LMA for mobile nodes without a profile; that LMA must have ``serve_unlisted``."""
    dataplane: DataplaneConfig | None = None
    """Tunnels and routes; without it the MAG only signals (tests, benchmarks)."""
    access: AccessConfig | None = None
    """Access links with unicast RAs; without it no RA is sent."""
    triggers: list[dict[str, Any]] = []
    """Layer-2 event sources, e.g. ``{type: cisco-syslog, port: 514, aps: {...}}``."""
    state_file: Path | None = None
    """Where active bindings are saved at shutdown and restored from at start."""
    log_level: LogLevel = "info"


# --------------------------------------------------------------------------- loading

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings")
    return data


def validate(path: Path, model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(f"{path}: {field_path(first['loc'])}: {msg}{more}") from None


def load(path: Path | str, model: type[M]) -> M:
    """Read and validate one YAML file; relative ``policy`` paths resolve beside it."""
    path = Path(path)
    data = read_yaml(path)
    if isinstance(data.get("policy"), str) and not Path(data["policy"]).is_absolute():
        data["policy"] = str(path.parent / data["policy"])
    return validate(path, model, data)
