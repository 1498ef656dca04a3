"""Agent configuration and policy files: schemas, loading, one clear error.

Every file is read with a schema (pydantic) that forbids unknown keys, so a
typo fails at start instead of being silently ignored. Whatever is wrong is
reported as a single :class:`ConfigError` whose message names the file and
the field, e.g. ``policy.yml: mobile_nodes[2].macs[0]: not a MAC address``.

The rules for single values (MACs, addresses, prefixes, names) are
:mod:`pmip6d.rules`, shared with the collection's inventory filter; checks
across fields are validators on the models here, so that ``pmip6d lma|mag
--check`` refuses whatever a start would refuse.
"""

from __future__ import annotations

import ipaddress
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
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import defaults, rules
from .errors import EXIT_CONFIG, PmipError

# The MAC helpers lived here before rules.py; the lab code still imports them from here.
parse_mac = rules.parse_mac
mac_text = rules.mac_text


class ConfigError(PmipError):
    """A configuration or policy file that cannot be used; the message says where and why."""

    exit_status = EXIT_CONFIG


class FieldProblem(ValueError):
    """A cross-field validator's finding about one field (a path below the model)."""

    def __init__(self, field: tuple[str | int, ...], problem: str) -> None:
        super().__init__(problem)
        self.field = field


# --------------------------------------------------------------------------- field types


def _prefix(value: str) -> str:
    return str(rules.ipv6_prefix(value))


MacAddress = Annotated[str, BeforeValidator(rules.mac_address)]
UnicastMac = Annotated[str, BeforeValidator(rules.unicast_mac)]
"""A mobile node's or an access link's MAC: not multicast, not all-zero."""
IPv6Address = Annotated[str, AfterValidator(rules.ipv6_address)]
RoutableAddress = Annotated[str, AfterValidator(rules.routable_address)]
"""A Proxy-CoA or LMAA: not unspecified, multicast or link-local."""
IPv6Prefix = Annotated[str, AfterValidator(_prefix)]
IPAddress = Annotated[str, AfterValidator(rules.ip_address)]
LinkLocalAddress = Annotated[str, AfterValidator(rules.link_local_address)]
Name = Annotated[str, Field(pattern=rules.NAME_PATTERN, max_length=rules.NAME_MAX_LENGTH)]
DomainName = Annotated[str, AfterValidator(rules.domain_name)]
LogLevel = Literal["debug", "info", "warning", "error"]
ReplayProtection = Literal["timestamp", "sequence"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Schema = _Schema
"""The agents' schema base (frozen, unknown keys refused), public for the files of
other tools that follow the same rules (the lab's emulated APs)."""


# --------------------------------------------------------------------------- policy file


class MagEntry(_Schema):
    name: Name
    address: RoutableAddress
    """The MAG's Proxy-CoA: the address it signals from and terminates tunnels on."""


class LmaEntry(_Schema):
    name: Name
    address: RoutableAddress
    """The LMA Address (LMAA)."""
    accept_mags: list[Name] = []
    """MAGs this LMA accepts proxy registrations from (RFC 5213 §4)."""
    serve_unlisted: bool = False
    """Serve mobile nodes that have no profile (pool prefixes, identifier from the MAC)."""


class MobileNodeEntry(_Schema):
    id: Annotated[str, Field(min_length=1, max_length=rules.MN_ID_MAX_LENGTH)]
    """Mobile node identifier, a Network Access Identifier (RFC 4282)."""
    macs: Annotated[list[UnicastMac], Field(min_length=1)]
    lma: Name
    hnps: list[IPv6Prefix] = []
    """Fixed home network prefixes; empty to take one from the LMA's pool."""
    enabled: bool = True
    """False: known but not authorized for proxy mobility (PROXY_REG_NOT_ENABLED)."""
    mags: list[Name] | None = None
    """If given, only these MAGs may register the mobile node."""


class PolicyFile(_Schema):
    domain: DomainName = "pmipv6.example"
    """Realm of identifiers made up for unlisted mobile nodes (``<mac>@domain``)."""
    mags: list[MagEntry] = []
    lmas: Annotated[list[LmaEntry], Field(min_length=1)]
    mobile_nodes: list[MobileNodeEntry] = []


# --------------------------------------------------------------------------- agent files


class PrefixPool(_Schema):
    prefix: IPv6Prefix
    length: Annotated[int, Field(ge=1, le=128)] = rules.HNP_LENGTH
    """Length of each assigned home network prefix."""

    @field_validator("length")
    @classmethod
    def _not_shorter_than_the_pool(cls, length: int, info: ValidationInfo) -> int:
        prefix = info.data.get("prefix")  # absent if it failed its own check
        if prefix is not None and length < ipaddress.IPv6Network(prefix).prefixlen:
            raise ValueError(f"{length} is shorter than the pool prefix {prefix}")
        return length


InterfaceName = Annotated[str, Field(pattern=rules.INTERFACE_PATTERN)]

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
    mac: UnicastMac = SHARED_MAC
    """The shared MAC, when ``shared_addresses``."""
    router_advertisements: dict[str, Any] = {}
    """radvd names, e.g. ``{MaxRtrAdvInterval: 10, AdvValidLifetime: 86400}``."""


# Key material never appears in a message: errors name the field, never the value.
ESP_KEY_BYTES = {"aes128-gcm16": 16 + 4, "aes256-gcm16": 32 + 4}
"""Algorithm -> bytes of its key: the AES key followed by the 4-byte salt (RFC 4106 §8.1)."""


def _hex_key(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected a hex string")
    text = value.strip().lower().removeprefix("0x")
    if not text or len(text) % 2 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("not an even number of hex digits")
    return text


class _SecretSchema(_Schema):
    # pydantic shows the input beside an error; here that input holds keys.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class SaKey(_SecretSchema):
    """One direction of a security association (RFC 4303): SPI and key."""

    spi: Annotated[int, Field(ge=256, le=2**32 - 1)]
    """SPIs 1..255 are reserved (RFC 4303 §2.1)."""
    key: Annotated[str, BeforeValidator(_hex_key), Field(repr=False)]
    """Hex: the AES key followed by the 4-byte salt."""

    @property
    def key_bytes(self) -> bytes:
        return bytes.fromhex(self.key)


class PeerSecurityAssociations(_SecretSchema):
    peer: Name
    """The peer's name in the policy file (a MAG for an LMA, an LMA for a MAG)."""
    algorithm: Literal["aes128-gcm16", "aes256-gcm16"] = "aes256-gcm16"
    outbound: SaKey
    inbound: SaKey

    @model_validator(mode="after")
    def _key_lengths(self) -> PeerSecurityAssociations:
        wanted = ESP_KEY_BYTES[self.algorithm]
        for direction in ("outbound", "inbound"):
            got = len(getattr(self, direction).key_bytes)
            if got != wanted:
                raise FieldProblem(
                    (direction, "key"),
                    f"{self.algorithm} needs {wanted} bytes ({wanted - 4}-byte AES key "
                    f"and 4-byte salt), this key has {got}",
                )
        return self


class SignalingSecurity(_SecretSchema):
    """IPsec ESP for the MAG<->LMA Mobility Header (RFC 5213 §4, RFC 4303 transport mode)."""

    mode: Literal["none", "esp"] = "esp"
    implementation: Literal["auto", "kernel", "agent"] = "auto"
    """auto: the kernel's xfrm if it has ESP and rfc4106, else the agent's own ESP."""
    replay_window: Annotated[int, Field(ge=0, le=4096)] = 0
    """ESP anti-replay window, packets; 0: none. The keys are static (no IKE): a peer that
    restarts sends sequence numbers from 1 again, which a window refuses until this
    agent restarts too. PBUs are protected from replay by RFC 5213's timestamps (§5.5)."""
    security_associations: list[PeerSecurityAssociations] = []

    @model_validator(mode="after")
    def _unique(self) -> SignalingSecurity:
        peers: set[str] = set()
        spis: set[int] = set()
        for i, sa in enumerate(self.security_associations):
            if sa.peer in peers:
                raise FieldProblem(
                    ("security_associations", i, "peer"), f"{sa.peer} has two entries"
                )
            if sa.inbound.spi in spis:
                raise FieldProblem(
                    ("security_associations", i, "inbound", "spi"),
                    f"inbound SPI {sa.inbound.spi} is used by another peer",
                )
            peers.add(sa.peer)
            spis.add(sa.inbound.spi)
        return self


class RateLimits(_Schema):
    """Bounds on what hostile input can make an agent do (issue 12); see pmip6d/ratelimit.py.

    RFC 6275 §9.3.3 wants Binding Errors rate limited like ICMPv6 errors (RFC 4443
    §2.4 (f)), with no figure: the per-source default follows Linux's ICMPv6 default
    (one a second per destination), the global one caps the total.
    """

    binding_errors_per_source: Annotated[float, Field(ge=0)] = 1.0
    binding_error_burst: Annotated[int, Field(ge=1)] = 5
    binding_errors_total: Annotated[float, Field(ge=0)] = 50.0
    binding_error_total_burst: Annotated[int, Field(ge=1)] = 50
    reject_log_lines: Annotated[int, Field(ge=0)] = 10
    """Rejected PBUs logged one by one per ``reject_log_interval``; the rest only counted."""
    reject_log_interval: Annotated[float, Field(gt=0)] = 60.0
    """Also the period of the summary line of rejected PBUs."""
    syslog_lines_per_source: Annotated[float, Field(gt=0)] = 200.0
    syslog_line_burst: Annotated[int, Field(ge=1)] = 400
    syslog_max_line: Annotated[int, Field(ge=64, le=65535)] = 2048
    """RFC 5426 §3.2: receivers take datagrams of 2048 octets; longer ones are dropped."""
    control_clients: Annotated[int, Field(ge=1)] = 16
    control_request_bytes: Annotated[int, Field(ge=256)] = 65536


class MetricsConfig(_Schema):
    """The agent's Prometheus endpoint (``GET /metrics``, daemon/metrics.py); off unless set.

    It answers anyone who can reach ``address``: give a management or loopback
    address, not a wildcard, unless ``listen_any`` says that is meant."""

    address: str
    port: Annotated[int, Field(ge=1, le=65535)] = defaults.METRICS_PORT
    listen_any: bool = False

    @field_validator("address")
    @classmethod
    def _address(cls, value: str, info: ValidationInfo) -> str:
        try:
            address = ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        return str(address)

    @model_validator(mode="after")
    def _not_a_wildcard(self) -> MetricsConfig:
        if ipaddress.ip_address(self.address).is_unspecified and not self.listen_any:
            raise ValueError(
                f"{self.address!r} listens on every interface; give a management or loopback"
                " address (or set listen_any: true)"
            )
        return self


class LmaConfig(_SecretSchema):
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
    min_delay_bris_ms: Annotated[int, Field(ge=1)] = defaults.MIN_DELAY_BRIS_MS
    """RFC 5846 MINDelayBRIs: first wait for a BRA before the BRI is sent again."""
    bri_max_retries_number: Annotated[int, Field(ge=0)] = defaults.BRI_MAX_RETRIES_NUMBER
    """RFC 5846 BRIMaxRetriesNumber."""
    prefix_pool: PrefixPool | None = None
    dataplane: DataplaneConfig | None = None
    """Tunnels and routes; without it the LMA only signals (tests, benchmarks)."""
    state_file: Path | None = None
    """Where the binding cache is saved and restored from at start (daemon/store.py)."""
    durable_state: bool = True
    """Save every binding change before its PBA leaves (survives a crash); false:
    save only at a clean stop (faster, forgets the bindings on a crash)."""
    heartbeat_interval: Annotated[float, Field(ge=0)] = defaults.HEARTBEAT_INTERVAL
    """RFC 5847 HEARTBEAT_INTERVAL, seconds; 0: send none (requests are still answered)."""
    missing_heartbeats_allowed: Annotated[int, Field(ge=1, le=255)] = (
        defaults.MISSING_HEARTBEATS_ALLOWED
    )
    """RFC 5847 MISSING_HEARTBEATS_ALLOWED."""
    peer_down_grace: Annotated[float, Field(gt=0)] | None = defaults.PEER_DOWN_GRACE
    """Seconds a MAG may stay down (heartbeat) before its bindings are removed; null: never."""
    restart_counter_file: Path | None = None
    """Where the RFC 5847 Restart Counter is kept; null: beside ``state_file``
    (``<state_file>.restart-counter``), or without a state file the start time."""
    signaling_security: SignalingSecurity | None = None
    """ESP for the Mobility Header with each MAG; absent: none."""
    socket_buffer: Annotated[int, Field(ge=65_536, le=1 << 30)] = defaults.SOCKET_BUFFER
    """Receive and send buffer of the Mobility Header socket, bytes (defaults.SOCKET_BUFFER)."""
    log_level: LogLevel = "info"
    rate_limits: RateLimits = RateLimits()
    """Binding Errors, reject logging, syslog triggers, control socket (issue 12)."""
    metrics: MetricsConfig | None = None
    """Prometheus text endpoint; absent: none."""


class MagConfig(_SecretSchema):
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
    keep_registering: bool = defaults.KEEP_REGISTERING
    """After the back-off, retry a registration every max_bindack_timeout_ms while the MN
    stays attached; false: give up (it stays without service until it attaches again)."""
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
    """Where active bindings are saved and restored from at start (daemon/store.py)."""
    durable_state: bool = True
    """Save every binding change as it happens (survives a crash); false: save
    only at a clean stop."""
    heartbeat_interval: Annotated[float, Field(ge=0)] = defaults.HEARTBEAT_INTERVAL
    """RFC 5847 HEARTBEAT_INTERVAL, seconds; 0: send none (requests are still answered)."""
    missing_heartbeats_allowed: Annotated[int, Field(ge=1, le=255)] = (
        defaults.MISSING_HEARTBEATS_ALLOWED
    )
    """RFC 5847 MISSING_HEARTBEATS_ALLOWED."""
    signaling_security: SignalingSecurity | None = None
    """ESP for the Mobility Header with each LMA; absent: none."""
    socket_buffer: Annotated[int, Field(ge=65_536, le=1 << 30)] = defaults.SOCKET_BUFFER
    """Receive and send buffer of the Mobility Header socket, bytes (defaults.SOCKET_BUFFER)."""
    log_level: LogLevel = "info"
    rate_limits: RateLimits = RateLimits()
    """Binding Errors, reject logging, syslog triggers, control socket (issue 12)."""
    metrics: MetricsConfig | None = None
    """Prometheus text endpoint; absent: none."""

    @model_validator(mode="after")
    def _consistent(self) -> MagConfig:
        if self.initial_bindack_timeout_first_reg_ms > self.max_bindack_timeout_ms:
            raise FieldProblem(
                ("initial_bindack_timeout_first_reg_ms",), "larger than max_bindack_timeout_ms"
            )
        if self.access is None:
            if self.dataplane is not None:
                raise FieldProblem(("access",), "a MAG with a dataplane needs access.interfaces")
            return self
        core = self.dataplane.core_interface if self.dataplane is not None else None
        seen: set[str] = set()
        for i, name in enumerate(self.access.interfaces):
            if name in seen:
                raise FieldProblem(("access", "interfaces", i), f"{name} is listed twice")
            if name == core:
                raise FieldProblem(
                    ("access", "interfaces", i), f"{name} is also dataplane.core_interface"
                )
            seen.add(name)
        return self


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
        loc = tuple(first["loc"])
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            loc += cause.field
        msg = first["msg"].removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(f"{path}: {field_path(loc)}: {msg}{more}") from None


def load(path: Path | str, model: type[M]) -> M:
    """Read and validate one YAML file; relative ``policy`` paths resolve beside it."""
    path = Path(path)
    data = read_yaml(path)
    if isinstance(data.get("policy"), str) and not Path(data["policy"]).is_absolute():
        data["policy"] = str(path.parent / data["policy"])
    return validate(path, model, data)
