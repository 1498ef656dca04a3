"""A deployed lab described by an Ansible inventory, as a :class:`~.labs.Lab`: the
emulated podman lab (``inventories/emulated``, rootful containers on this machine).

The lab's facts come from the inventory (``ansible-inventory -i INV --list``):
the groups ``pmipv6_lma``, ``pmipv6_mag``, ``pmipv6_ap``, ``pmipv6_cn`` and the hosts'
``pmipv6_*`` variables; ``ansible_host`` is the container's name. What only exists
at run time comes from the machine: each container's init PID (``podman
inspect``), the emulated APs' file the testbed role wrote
(``pmipv6_testbed_aps_file``: radio bridges, syslog sources).

From this machine (root), with no agent or tool inside the containers:

* a command runs in a host's network namespace with ``nsenter
  --net=/proc/PID/ns/net`` — this machine's ``dumpcap``, ``iperf3``, ``ip``, writing
  this machine's files, every capture stamped by the one kernel clock;
* an agent's control socket is reached through the container's root,
  ``/proc/PID/root/run/pmip6d/{lma,mag}.sock`` (the container's mount namespace);
* mobile nodes are fresh network namespaces, one per run, whose ``wlan0`` veth has
  its radio port in the radio medium namespace (``pmipv6_testbed_air_netns``), as the
  inventory's MN containers have: each run starts from a clean MN (no address, no
  default router, no neighbour cache). Their names and MACs
  (:func:`mobile_nodes`) must be in the policy: ``playbooks/experiment.yml`` adds
  them to ``pmipv6_mobile_nodes`` before it configures the agents.

The pure parts — inventory → facts (:func:`lab_facts`), the commands that make and
remove an MN (:func:`station_commands`) — are unit-tested without podman.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .labs import AgentNode, ApNode, CnNode, Host, Lab, Station

PODMAN_CONNECTION = "containers.podman.podman"
CONTROL_SOCKETS = {"lma": "/run/pmip6d/lma.sock", "mag": "/run/pmip6d/mag.sock"}
"""Where the collection's roles put the agents' control sockets (DEVELOPERS.md)."""
CONFIG_FILES = {"lma": "/etc/pmip6d/lma.yml", "mag": "/etc/pmip6d/mag.yml"}
"""Where the roles put the agents' configuration files (their ESP SAs)."""
MN_INTERFACE = "wlan0"
IFNAMSIZ = 15


class InventoryError(Exception):
    """The inventory does not describe a lab this backend can drive (the message says why)."""


# --------------------------------------------------------------------------- the inventory


def read_inventory(inventory: Path | str) -> dict[str, Any]:
    """``ansible-inventory -i INVENTORY --list`` as JSON (the ansible next to this Python
    first: the project's .venv)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    binary = shutil.which("ansible-inventory", path=path)
    if binary is None:
        raise InventoryError("ansible-inventory is not installed (run scripts/setup.sh)")
    result = subprocess.run(
        [binary, "-i", str(inventory), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise InventoryError(f"ansible-inventory -i {inventory}: {result.stderr.strip()}")
    return json.loads(result.stdout)


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def resolve(value: Any, hostvars: dict[str, Any], host: str, what: str = "") -> Any:
    """A variable's value with its ``{{ name }}`` references to the host's other variables
    (and ``inventory_hostname``) filled in — what ``ansible-inventory --list`` leaves
    untemplated. Anything more than plain references is refused with the variable named."""
    if not isinstance(value, str):
        return value
    names = {**hostvars, "inventory_hostname": host}
    for _unused in range(10):
        if "{{" not in value and "{%" not in value:
            return value

        def lookup(match: re.Match) -> str:
            name = match.group(1)
            if name not in names:
                raise InventoryError(f"{host}: {what or 'a variable'}: {name} is not defined")
            inner = names[name]
            if not isinstance(inner, (str, int, float)):
                raise InventoryError(f"{host}: {what}: {name} is not a plain value")
            return str(inner)

        new = _SIMPLE.sub(lookup, value)
        if new == value:
            break
        value = new
    if "{{" in value or "{%" in value:
        raise InventoryError(
            f"{host}: {what or 'a variable'}: {value!r} is a template this tool cannot "
            "evaluate; set the value literally in the inventory"
        )
    return value


def _group(inv: dict[str, Any], name: str) -> list[str]:
    """The hosts of group ``name`` and of its children, in inventory order."""
    group = inv.get(name) or {}
    hosts = list(group.get("hosts") or [])
    for child in group.get("children") or []:
        hosts += [h for h in _group(inv, child) if h not in hosts]
    return hosts


def _var(inv: dict, host: str, name: str, default: Any = None, required: bool = True) -> Any:
    hostvars = (inv.get("_meta") or {}).get("hostvars", {}).get(host, {})
    if name not in hostvars:
        if required and default is None:
            raise InventoryError(f"{host}: {name}: missing")
        return default
    return resolve(hostvars[name], hostvars, host, name)


def _container(inv: dict, host: str) -> str:
    connection = _var(inv, host, "ansible_connection", default="ssh", required=False)
    if connection != PODMAN_CONNECTION:
        raise InventoryError(
            f"{host}: ansible_connection is {connection!r}: this backend drives podman "
            f"containers on this machine ({PODMAN_CONNECTION}); a lab of separate machines "
            "needs a backend that runs the captures and the traffic there"
        )
    return str(_var(inv, host, "ansible_host", default=host, required=False))


def _one(inv: dict, group: str) -> str:
    hosts = _group(inv, group)
    if not hosts:
        raise InventoryError(f"(inventory): groups: no host in {group}")
    return hosts[0]


def _cn_interface(inv: dict, cn: str, address: str) -> str:
    explicit = _var(inv, cn, "pmipv6_cn_interface", default=None, required=False)
    if explicit:
        return str(explicit)
    entries = _var(inv, cn, "pmipv6_testbed_addresses", default=[], required=False) or []
    hostvars = inv["_meta"]["hostvars"][cn]
    for entry in entries:
        text = resolve(entry.get("address", ""), hostvars, cn, "pmipv6_testbed_addresses")
        if str(text).split("/", maxsplit=1)[0] == address:
            return str(resolve(entry.get("dev", ""), hostvars, cn, "pmipv6_testbed_addresses"))
    return "eth0"


def lab_facts(
    inv: dict[str, Any],
    inventory: Path | str = "",
    from_ap: str | None = None,
    to_ap: str | None = None,
) -> dict[str, Any]:
    """The lab as the runs need it, from ``ansible-inventory --list`` JSON (pure).

    ``from_ap``/``to_ap``: the roam (default: the inventory's
    ``pmipv6_experiment_from_ap``/``_to_ap``, else the first two APs on different MAGs).
    Raises :class:`InventoryError` naming the host and variable of what is missing."""
    lma = _one(inv, "pmipv6_lma")
    cn = _one(inv, "pmipv6_cn")
    mags = _group(inv, "pmipv6_mag")
    aps = _group(inv, "pmipv6_ap")
    if len(mags) < 2:
        raise InventoryError("(inventory): groups: a handover needs two hosts in pmipv6_mag")
    facts: dict[str, Any] = {
        "kind": "podman",
        "inventory": str(inventory),
        "domain": str(_var(inv, lma, "pmipv6_domain")),
        "lma": {
            "name": lma,
            "container": _container(inv, lma),
            "address": str(_var(inv, lma, "pmipv6_address")),
            "core_interface": str(_var(inv, lma, "pmipv6_core_interface")),
            "control_socket": CONTROL_SOCKETS["lma"],
            "config_file": CONFIG_FILES["lma"],
        },
        "mags": {},
        "aps": {},
    }
    for mag in mags:
        interfaces = _var(inv, mag, "pmipv6_access_interfaces")
        if not isinstance(interfaces, list) or not interfaces:
            raise InventoryError(f"{mag}: pmipv6_access_interfaces: must be a list")
        facts["mags"][mag] = {
            "container": _container(inv, mag),
            "address": str(_var(inv, mag, "pmipv6_address")),
            "core_interface": str(_var(inv, mag, "pmipv6_core_interface")),
            "access_interface": str(interfaces[0]),
            "access_address": _var(inv, mag, "pmipv6_syslog_address", required=False),
            "control_socket": CONTROL_SOCKETS["mag"],
            "config_file": CONFIG_FILES["mag"],
        }
    for ap in aps:
        mag = str(_var(inv, ap, "pmipv6_mag"))
        if mag not in facts["mags"]:
            raise InventoryError(f"{ap}: pmipv6_mag: {mag!r} is not a host in pmipv6_mag")
        facts["aps"][ap] = {
            "container": _container(inv, ap),
            "mag": mag,
            "address": str(_var(inv, ap, "pmipv6_ap_address")),
            "bssid": str(_var(inv, ap, "pmipv6_ap_bssid", default="", required=False)),
        }
        # Where this AP's syslog reaches its MAG (the inventory check's default: the
        # MAG's first access interface); the experiment captures it there.
        syslog_interface = _var(inv, ap, "pmipv6_ap_syslog_interface", required=False)
        if syslog_interface and "syslog_interface" not in facts["mags"][mag]:
            facts["mags"][mag]["syslog_interface"] = str(syslog_interface)
    cn_address = str(_var(inv, cn, "pmipv6_cn_address"))
    facts["cn"] = {
        "name": cn,
        "container": _container(inv, cn),
        "address": cn_address,
        "interface": _cn_interface(inv, cn, cn_address),
    }
    facts["air_netns"] = str(_var(inv, lma, "pmipv6_testbed_air_netns"))
    facts["aps_file"] = str(_var(inv, lma, "pmipv6_testbed_aps_file"))
    facts["mn_prefix"] = str(
        _var(inv, lma, "pmipv6_experiment_mn_prefix", default="x", required=False)
    )
    from_ap = from_ap or _var(inv, lma, "pmipv6_experiment_from_ap", required=False)
    to_ap = to_ap or _var(inv, lma, "pmipv6_experiment_to_ap", required=False)
    if from_ap is None or to_ap is None:
        pairs = [
            (a, b)
            for a in aps
            for b in aps
            if facts["aps"][a]["mag"] != facts["aps"][b]["mag"]
            and (from_ap is None or a == from_ap)
            and (to_ap is None or b == to_ap)
        ]
        if not pairs:
            raise InventoryError(
                "(inventory): pmipv6_ap: no two APs on different MAGs to roam between"
            )
        from_ap, to_ap = pairs[0]
    for key, ap in (("from_ap", from_ap), ("to_ap", to_ap)):
        if ap not in facts["aps"]:
            raise InventoryError(f"(inventory): pmipv6_experiment_{key}: {ap!r} is not an AP")
    if facts["aps"][from_ap]["mag"] == facts["aps"][to_ap]["mag"]:
        raise InventoryError(
            f"(inventory): {from_ap} and {to_ap} are both on {facts['aps'][from_ap]['mag']}: "
            "the roam must change MAG"
        )
    facts["from_ap"], facts["to_ap"] = str(from_ap), str(to_ap)
    return facts


# --------------------------------------------------------------------------- mobile nodes


def station_name(scenario: int, run: int, prefix: str = "x") -> str:
    """The MN of run ``run`` of ``scenario``: ``xs1r01`` (also its name in the policy)."""
    return f"{prefix}s{scenario}r{run:02d}"


def station_mac(scenario: int, run: int) -> str:
    """A locally administered unicast MAC per (scenario, run): ``02:e0:00:01:00:01``."""
    if not (0 <= scenario <= 255 and 0 <= run <= 0xFFFF):
        raise ValueError(f"no MAC for scenario {scenario} run {run}")
    return f"02:e0:00:{scenario:02x}:{run >> 8:02x}:{run & 0xFF:02x}"


HNP_BASE = "2001:db8:e0::/44"
"""Where the experiment MNs' fixed home network prefixes come from (outside the emulated
lab's pool, 2001:db8:100::/48): ``2001:db8:e<S>:<run>::/64``."""


def station_hnp(scenario: int, run: int, base: str = HNP_BASE) -> str:
    """The MN's fixed /64 home network prefix: the (scenario, run)-th /64 of ``base``."""
    net = ipaddress.IPv6Network(base)
    bits = 64 - net.prefixlen
    index = (scenario << 16) | run
    if bits < 20 or index >> bits:
        raise ValueError(f"{base} has no /64 number {index} (it must be /44 or shorter)")
    return str(ipaddress.IPv6Network((int(net.network_address) | (index << 64), 64)))


def mobile_nodes(
    scenarios: list[int],
    runs: int,
    prefix: str = "x",
    hnp_base: str | None = HNP_BASE,
    long_runs: int = 0,
) -> list[dict[str, Any]]:
    """Every MN the experiment may use, as ``pmipv6_mobile_nodes`` entries ``{name, mac,
    hnps}``. Fixed prefixes (``hnp_base``; None: from the LMA's pool) keep the MNs out of
    the pool: each run's MN has a prefix nobody else ever had. Scenario 1 has ``long_runs``
    more (``Settings.long_runs``)."""
    nodes = []
    for sc in scenarios:
        for run in range(1, runs + (long_runs if sc == 1 else 0) + 1):
            node: dict[str, Any] = {
                "name": station_name(sc, run, prefix),
                "mac": station_mac(sc, run),
            }
            if hnp_base:
                node["hnps"] = [station_hnp(sc, run, hnp_base)]
            nodes.append(node)
    return nodes


def station_netns(air_netns: str, name: str) -> str:
    """The MN's network namespace: named after the radio medium, so it is clearly the lab's."""
    return f"{air_netns}-{name}"


def station_port(name: str) -> str:
    port = f"{name}-radio"
    if len(port) > IFNAMSIZ:
        raise ValueError(f"radio port name {port!r} is longer than {IFNAMSIZ} characters")
    return port


def station_commands(
    air_netns: str, netns: str, port: str, mac: str, interface: str = MN_INTERFACE
) -> list[list[str]]:
    """The commands that make an MN: its namespace, its ``wlan0`` veth (its MAC) whose other
    end, the radio port, is made directly in the radio medium — down, in no AP's bridge."""
    return [
        ["ip", "netns", "add", netns],
        ["ip", "-n", netns, "link", "set", "lo", "up"],
        [
            *("ip", "link", "add", "name", interface, "address", mac, "netns", netns),
            *("type", "veth", "peer", "name", port, "netns", air_netns),
        ],
        ["ip", "-n", air_netns, "link", "set", port, "down"],
        ["ip", "-n", netns, "link", "set", interface, "up"],
    ]


def remove_station_commands(
    netns: str, interface: str = MN_INTERFACE, air_netns: str | None = None, port: str = ""
) -> list[list[str]]:
    """Delete the MN's veth first — both ends go at once, the radio port with it — then
    its namespace. (A deleted namespace may linger in the kernel for a minute, e.g. while
    TCP TIME_WAIT sockets live, and its veth with it: a redo of the run would find the
    radio port's name taken.) With ``air_netns`` and ``port``: a radio port left without
    its MN goes too. Each may fail when there is nothing to delete."""
    cmds = [["ip", "-n", netns, "link", "del", interface], ["ip", "netns", "del", netns]]
    if air_netns and port:
        cmds.append(["ip", "-n", air_netns, "link", "del", port])
    return cmds


# --------------------------------------------------------------------------- the live lab


def podman_inspect_command(containers: list[str]) -> list[str]:
    return ["podman", "inspect", "--type", "container", "--format", "json", *containers]


def container_pids(containers: list[str]) -> dict[str, int]:
    """Each running container's init PID (its namespaces are /proc/PID/ns/*)."""
    result = subprocess.run(
        podman_inspect_command(containers),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise InventoryError(
            f"podman inspect: {result.stderr.strip()} — is the lab built? "
            "(ansible-playbook site.yml -i inventories/emulated)"
        )
    pids = {}
    for item in json.loads(result.stdout or "[]"):
        name = item.get("Name", "").lstrip("/")
        state = item.get("State") or {}
        if not state.get("Running") or not state.get("Pid"):
            raise InventoryError(f"container {name} is not running")
        pids[name] = int(state["Pid"])
    missing = sorted(set(containers) - set(pids))
    if missing:
        raise InventoryError(f"no container {', '.join(missing)}")
    return pids


def containers(facts: dict[str, Any]) -> list[str]:
    return [
        facts["lma"]["container"],
        *(m["container"] for m in facts["mags"].values()),
        *(a["container"] for a in facts["aps"].values()),
        facts["cn"]["container"],
    ]


def control_socket_path(pid: int, socket: str) -> Path:
    """An agent's control socket, seen from this machine through the container's root."""
    return Path(f"/proc/{pid}/root") / socket.lstrip("/")


def podman_lab(facts: dict[str, Any], pids: dict[str, int] | None = None) -> Lab:
    """The live lab: facts (:func:`lab_facts`) + container PIDs + the emulated APs' file."""
    from pmip6d.config import ConfigError

    from ..emulated_ap import load_aps

    pids = pids if pids is not None else container_pids(containers(facts))

    def host(name: str, info: dict) -> Host:
        return Host(name, f"pid:{pids[info['container']]}")

    def socket(info: dict) -> Path:
        return control_socket_path(pids[info["container"]], info["control_socket"])

    def config_file(info: dict) -> Path | None:
        # Through the container's root, like the control socket (older facts: none).
        path = info.get("config_file")
        return control_socket_path(pids[info["container"]], path) if path else None

    lma_info = facts["lma"]
    lma = AgentNode(
        lma_info["name"],
        "lma",
        host(lma_info["name"], lma_info),
        lma_info["address"],
        lma_info["core_interface"],
        socket(lma_info),
        config_file=config_file(lma_info),
    )
    mags = {
        name: AgentNode(
            name,
            "mag",
            host(name, info),
            info["address"],
            info["core_interface"],
            socket(info),
            access_interface=info["access_interface"],
            access_address=info.get("access_address"),
            syslog_interface=info.get("syslog_interface"),
            config_file=config_file(info),
        )
        for name, info in facts["mags"].items()
    }
    try:
        ap_configs = load_aps(facts["aps_file"])
    except (ConfigError, OSError) as exc:
        raise InventoryError(
            f"the emulated APs' file: {exc} (the testbed role writes it: "
            "ansible-playbook playbooks/testbed.yml)"
        ) from exc
    aps = {}
    for name, info in facts["aps"].items():
        cfg = ap_configs.get(name)
        if cfg is None:
            raise InventoryError(f"{facts['aps_file']}: no AP {name}")
        expected = f"pid:{pids[info['container']]}"
        if cfg.syslog_netns != expected or cfg.netns != facts["air_netns"]:
            raise InventoryError(
                f"{facts['aps_file']}: {name}: syslog_netns {cfg.syslog_netns} / netns "
                f"{cfg.netns}, but {info['container']} is {expected} and the radio medium "
                f"{facts['air_netns']}: the file is stale (a container restarted?); "
                "re-run ansible-playbook playbooks/testbed.yml"
            )
        aps[name] = ApNode(
            name,
            info["mag"],
            info["bssid"] or cfg.bssid,
            info["address"],
            str(cfg.syslog_to),
            cfg.bridge,
        )
    cn = CnNode(
        facts["cn"]["name"],
        host(facts["cn"]["name"], facts["cn"]),
        facts["cn"]["address"],
        facts["cn"]["interface"],
    )
    return Lab(
        kind="podman",
        lma=lma,
        mags=mags,
        aps=aps,
        cn=cn,
        aps_file=Path(facts["aps_file"]),
        air_netns=facts["air_netns"],
        domain=facts["domain"],
        syslog_port=514,
        info={
            "inventory": facts.get("inventory"),
            "containers": {
                name: {"container": c, "pid": pids[c]}
                for name, c in [
                    (facts["lma"]["name"], facts["lma"]["container"]),
                    *((n, m["container"]) for n, m in facts["mags"].items()),
                    *((n, a["container"]) for n, a in facts["aps"].items()),
                    (facts["cn"]["name"], facts["cn"]["container"]),
                ]
            },
        },
    )


def station(facts: dict[str, Any], scenario: int, run: int) -> Station:
    """Run ``run`` of ``scenario``'s MN (whether or not its namespace exists yet)."""
    name = station_name(scenario, run, facts.get("mn_prefix", "x"))
    return Station(
        name,
        station_mac(scenario, run),
        f"{name}@{facts['domain']}",
        Host(name, station_netns(facts["air_netns"], name)),
        station_port(name),
        MN_INTERFACE,
    )


def station_exists(st: Station) -> bool:
    return Path("/run/netns", st.host.netns).exists()


def create_station(lab: Lab, st: Station) -> None:
    """Make the MN afresh (a leftover of an interrupted run is removed first)."""
    remove_station(st, lab.air_netns)
    for cmd in station_commands(lab.air_netns, st.host.netns, st.port, st.mac, st.interface):
        _run(cmd)
    st.ap = None


def remove_station(st: Station, air_netns: str | None = None) -> None:
    remove_netns(st.host.netns, st.interface, air_netns, st.port)


def remove_netns(
    netns: str, interface: str = MN_INTERFACE, air_netns: str | None = None, port: str = ""
) -> None:
    exists = Path("/run/netns", netns).exists()
    for cmd in remove_station_commands(netns, interface, air_netns, port):
        if not exists and cmd[:3] in (["ip", "netns", "del"], ["ip", "-n", netns]):
            continue
        subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    if Path("/run/netns", netns).exists():
        raise RuntimeError(f"could not delete the namespace {netns}")


def stale_stations(air_netns: str, prefix: str = "x") -> list[str]:
    """Namespaces of experiment MNs still there (an interrupted run's)."""
    base = Path("/run/netns")
    pattern = re.compile(rf"^{re.escape(air_netns)}-{re.escape(prefix)}s\d+r\d+$")
    return sorted(p.name for p in base.iterdir() if pattern.match(p.name)) if base.is_dir() else []


def remove_stale(air_netns: str, netns: str) -> None:
    """Remove an MN found by :func:`stale_stations` (its radio port too)."""
    name = netns[len(air_netns) + 1 :]
    remove_netns(netns, MN_INTERFACE, air_netns, station_port(name))


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")
