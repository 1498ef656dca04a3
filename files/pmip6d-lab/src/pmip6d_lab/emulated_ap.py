"""An emulated Cisco Aironet access point for labs: radio links and the syslog it sends.

In the emulated testbed each AP is a Linux bridge in its own network
namespace (or container), uplinked to its MAG's access interface; a mobile
node's "radio link" is a veth whose AP end is plugged into one AP bridge at a
time. This tool moves that end between bridges and sends the MAG exactly the
syslog lines a real Aironet 1100 would (IOS format, facility local7):

* associate:   ``%DOT11-6-ASSOC: Interface Dot11Radio0, Station NAME MAC Associated KEY_MGMT[NONE]``
* roam to AP2: AP2 sends ``... Reassociated KEY_MGMT[NONE]``, then AP1 sends
  ``%DOT11-6-ROAMED: Station MAC Roamed to <AP2 BSSID>``
* disassociate: ``%DOT11-6-DISASSOC: Interface Dot11Radio0, Deauthenticating Station MAC
  Reason: Sending station has left the BSS``

The APs are described in a YAML file (see :class:`ApConfig`)::

    aps:
      ap1: {netns: lab-ap1, bridge: br0, bssid: "0019.a9f0.0001",
            syslog_from: "2001:db8:a1::2", syslog_to: "2001:db8:a1::1"}

Usage (root)::

    pmip6d-ap -c aps.yml associate --ap ap1 --station 02:00:00:00:01:01 --port mn1-radio
    pmip6d-ap -c aps.yml roam --from ap1 --to ap2 --station 02:00:00:00:01:01 --port mn1-radio
    pmip6d-ap -c aps.yml disassociate --ap ap2 --station 02:00:00:00:01:01 --port mn1-radio

Each command prints one JSON line with the times (Unix seconds) at which the
radio link moved and each syslog datagram left, for the experiments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

from pydantic import Field

from pmip6d.config import ConfigError, IPAddress, MacAddress, Name, Schema, parse_mac, validate

_SEQUENCE = itertools.count(1)
LOCAL7 = 23


class ApConfig(Schema):
    netns: str | None = None
    """Named namespace (``ip netns``) or ``pid:N`` (a container's process) of the AP bridge;
    None: the namespace this tool runs in."""
    bridge: str = "br0"
    bssid: MacAddress
    """The AP radio's MAC, which a ROAMED message names as the new AP."""
    radio: str = "Dot11Radio0"
    syslog_from: IPAddress | None = None
    """Source address of the syslog datagrams (the AP's management address)."""
    syslog_netns: str | None = None
    """Namespace to send syslog from, when it is not the radio bridge's (``netns``): in the
    container lab the bridges are in a shared "air" namespace, the AP's address in its
    container (``pid:N``)."""
    syslog_to: IPAddress
    """The MAG's syslog address (IPv6 or IPv4)."""
    syslog_port: Annotated[int, Field(ge=1, le=65535)] = 514
    hostname: str | None = None
    """Sent as IOS 'logging origin-id' when set."""


class ApFile(Schema):
    aps: dict[Name, ApConfig]


def cisco_mac(mac: bytes) -> str:
    h = mac.hex()
    return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"


def syslog_line(
    ap: ApConfig, severity: int, mnemonic: str, text: str, now: float | None = None
) -> str:
    """One IOS syslog datagram: ``<PRI>SEQ: [host: ]*Mon DD HH:MM:SS.mmm: %TAG: text``."""
    when = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.timezone.utc)
    stamp = f"{when:%b} {when.day:2d} {when:%H:%M:%S}.{when.microsecond // 1000:03d}"
    origin = f"{ap.hostname}: " if ap.hostname else ""
    facility, _unused, name = mnemonic.partition("-")
    tag = f"%{facility}-{severity}-{name}"
    return f"<{LOCAL7 * 8 + severity}>{next(_SEQUENCE)}: {origin}*{stamp}: {tag}: {text}"


def associated(ap: ApConfig, station: bytes, name: str = "", reassociation: bool = False) -> str:
    verb = "Reassociated" if reassociation else "Associated"
    who = f"{name} " if name else "  "
    text = f"Interface {ap.radio}, Station {who}{cisco_mac(station)} {verb} KEY_MGMT[NONE]"
    return syslog_line(ap, 6, "DOT11-ASSOC", text)


def roamed(ap: ApConfig, station: bytes, new_ap: ApConfig) -> str:
    text = f"Station {cisco_mac(station)} Roamed to {cisco_mac(parse_mac(new_ap.bssid))}"
    return syslog_line(ap, 6, "DOT11-ROAMED", text)


def deauthenticated(ap: ApConfig, station: bytes) -> str:
    text = (
        f"Interface {ap.radio}, Deauthenticating Station {cisco_mac(station)} "
        "Reason: Sending station has left the BSS"
    )
    return syslog_line(ap, 6, "DOT11-DISASSOC", text)


# --------------------------------------------------------------------------- I/O


def _in_netns(netns: str | None, *args: str) -> list[str]:
    if netns is None:
        return list(args)
    if netns.startswith("pid:"):
        return ["nsenter", f"--net=/proc/{netns[4:]}/ns/net", "--", *args]
    return ["ip", "netns", "exec", netns, *args]


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")


def _netns_target(netns: str) -> str:
    return netns[4:] if netns.startswith("pid:") else netns


def plugged_into(ap: ApConfig, port: str) -> bool:
    """Is ``port`` up and in ``ap``'s bridge already (the station is associated there)?"""
    result = subprocess.run(
        _in_netns(ap.netns, "ip", "-j", "link", "show", "dev", port),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        return False
    info = json.loads(result.stdout or "[]")
    return bool(info) and info[0].get("master") == ap.bridge and "UP" in info[0].get("flags", [])


def plug(ap: ApConfig, port: str, from_netns: str | None = None) -> None:
    """Put the radio port into ``ap``'s namespace and bridge, and bring it up."""
    if from_netns != ap.netns and ap.netns is not None:
        _run(_in_netns(from_netns, "ip", "link", "set", port, "netns", _netns_target(ap.netns)))
    _run(_in_netns(ap.netns, "ip", "link", "set", port, "master", ap.bridge, "up"))


def unplug(ap: ApConfig, port: str) -> None:
    _run(_in_netns(ap.netns, "ip", "link", "set", port, "nomaster", "down"))


def syslog_socket(ap: ApConfig) -> socket.socket:
    """The AP's UDP socket, in its namespace and bound to its address.

    Opened before the radio link moves: creating a socket in another namespace
    costs tens of milliseconds (pyroute2 forks), which must not sit between the
    station's move and the AP's syslog line.
    """
    family = socket.AF_INET6 if ":" in ap.syslog_to else socket.AF_INET
    netns = ap.syslog_netns or ap.netns
    if netns is None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    else:
        from pyroute2 import netns as pyroute2_netns

        target = f"/proc/{netns[4:]}/ns/net" if netns.startswith("pid:") else netns
        sock = pyroute2_netns.create_socket(target, family, socket.SOCK_DGRAM)
    try:
        if ap.syslog_from:
            sock.bind((ap.syslog_from, 0))
    except OSError:
        sock.close()
        raise
    return sock


def send_syslog(ap: ApConfig, line: str, sock: socket.socket | None = None) -> float:
    """Send one datagram from the AP's namespace and address; returns when it left."""
    own = sock is None
    sock = syslog_socket(ap) if sock is None else sock
    try:
        sock.sendto(line.encode(), (ap.syslog_to, ap.syslog_port))
        return time.time()
    finally:
        if own:
            sock.close()


def load_aps(path: Path | str) -> dict[str, ApConfig]:
    from pmip6d.config import read_yaml

    path = Path(path)
    return validate(path, ApFile, read_yaml(path)).aps


def run_tool(aps_file: Path | str, *args: str) -> dict:
    """``pmip6d-ap -c APS_FILE ARGS`` in a process of its own (as a deployed lab runs
    it); its JSON answer. The test beds call the tool this way, not :func:`main`."""
    result = subprocess.run(
        [sys.executable, "-m", "pmip6d_lab.emulated_ap", "-c", str(aps_file), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pmip6d-ap {' '.join(args)}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmip6d-ap", description="emulated Cisco Aironet access points"
    )
    parser.add_argument(
        "-c", "--config", required=True, type=Path, help="YAML file describing the APs"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("associate", "disassociate"):
        p = sub.add_parser(name)
        p.add_argument("--ap", required=True)
        p.add_argument("--station", required=True, help="the MN's MAC")
        p.add_argument(
            "--port", help="the MN's radio port (AP end of its veth); omit to only send syslog"
        )
        p.add_argument("--port-netns", help="namespace the port is in now (associate)")
        p.add_argument("--name", default="", help="station name in the syslog line")
        p.add_argument(
            "--relog",
            action="store_true",
            help="associate: log the association again even if the station is already there "
            "(its MAG lost it, e.g. after a restart without saved state)",
        )
    r = sub.add_parser("roam", help="move the MN from one AP to another (reassociation)")
    r.add_argument("--from", dest="src", required=True)
    r.add_argument("--to", dest="dst", required=True)
    r.add_argument("--station", required=True)
    r.add_argument("--port")
    r.add_argument("--name", default="")
    args = parser.parse_args(argv)
    try:
        aps = load_aps(args.config)
        for key in ("ap", "src", "dst"):
            value = getattr(args, key, None)
            if value is not None and value not in aps:
                raise ConfigError(f"{args.config}: aps: no AP named {value!r}")
        station = parse_mac(args.station)
    except (ConfigError, ValueError) as exc:
        print(f"pmip6d-ap: {exc}", file=sys.stderr)
        return 2
    out: dict = {"command": args.command, "station": args.station}
    try:
        if args.command == "associate":
            ap = aps[args.ap]
            if args.port and not args.relog and plugged_into(ap, args.port):
                # Already associated here: a real AP logs nothing new either.
                print(json.dumps({**out, "changed": False}))
                return 0
            with syslog_socket(ap) as sock:
                if args.port and not plugged_into(ap, args.port):
                    # Without --port-netns the port is taken to be in the AP's namespace already.
                    plug(ap, args.port, args.port_netns or ap.netns)
                    out["moved_at"] = time.time()
                out["assoc_sent_at"] = send_syslog(ap, associated(ap, station, args.name), sock)
        elif args.command == "disassociate":
            ap = aps[args.ap]
            if args.port:
                unplug(ap, args.port)
                out["moved_at"] = time.time()
            out["disassoc_sent_at"] = send_syslog(ap, deauthenticated(ap, station))
        else:
            old, new = aps[args.src], aps[args.dst]
            with syslog_socket(new) as new_sock, syslog_socket(old) as old_sock:
                if args.port:
                    # The station reassociates with the new AP, which logs it; the old
                    # AP learns of the roam after. With both AP bridges in one namespace
                    # the port just changes bridge and the MN's carrier stays up, as a
                    # Wi-Fi client's does when it roams; across namespaces the veth has
                    # to move and the MN sees a short carrier loss.
                    if old.netns != new.netns:
                        _run(
                            _in_netns(old.netns, "ip", "link", "set", args.port, "nomaster", "down")
                        )
                    plug(new, args.port, old.netns)
                    out["moved_at"] = time.time()
                reassoc = associated(new, station, args.name, True)
                out["reassoc_sent_at"] = send_syslog(new, reassoc, new_sock)
                out["roamed_sent_at"] = send_syslog(old, roamed(old, station, new), old_sock)
    except (OSError, RuntimeError) as exc:
        print(f"pmip6d-ap: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**out, "changed": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
