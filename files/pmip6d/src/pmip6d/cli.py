"""Command lines: ``pmip6d`` runs an agent, ``pmipctl`` talks to a running one."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .control_client import ControlClient, ControlError
from .errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_KERNEL, PmipError, exit_status

DEFAULT_SOCKETS = (Path("/run/pmip6d/lma.sock"), Path("/run/pmip6d/mag.sock"))

__all__ = ["EXIT_CONFIG", "EXIT_KERNEL", "pmip6d_main", "pmipctl_main", "report_error"]


# --------------------------------------------------------------------------- errors


def report_error(prog: str, exc: BaseException, log: logging.Logger | None = None) -> int:
    """The one way an error ends ``pmip6d`` or ``pmipctl``: one line on stderr, no
    traceback, and the exit status its class documents (:mod:`pmip6d.errors`).

    ``log``: the agent is running and stderr is its journal; the line goes out as a
    log record like every other line there. Errors that mean "fix the file" or "this
    kernel cannot" say so themselves; the others were met while running.
    """
    status = exit_status(exc)
    text = str(exc) if status != EXIT_FAILURE or log is None else f"cannot run: {exc}"
    if log is not None:
        log.error("%s", text)
    else:
        print(f"{prog}: {text}", file=sys.stderr)
    return status


# --------------------------------------------------------------------------- pmip6d


def pmip6d_main(argv: list[str] | None = None) -> int:
    """``pmip6d``: any PmipError (or the kernel's OSError) ends it through report_error."""
    try:
        return _pmip6d(argv)
    except (PmipError, OSError) as exc:
        return report_error("pmip6d", exc)


def _pmip6d(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmip6d", description="Proxy Mobile IPv6 agent (RFC 5213)"
    )
    parser.add_argument("--version", action="version", version=f"pmip6d {__version__}")
    sub = parser.add_subparsers(dest="role", required=True)
    for role, text in (("lma", "local mobility anchor"), ("mag", "mobile access gateway")):
        p = sub.add_parser(role, help=f"run a {text}")
        p.add_argument("-c", "--config", required=True, type=Path, help="YAML configuration file")
        p.add_argument(
            "--check", action="store_true", help="validate configuration and policy, then exit"
        )
        p.add_argument(
            "--log-level",
            choices=["debug", "info", "warning", "error"],
            help="override the configuration's log_level",
        )
    p = sub.add_parser("check-policy", help="validate a policy file and exit")
    p.add_argument("policy", type=Path)
    p = sub.add_parser(
        "doctor", help="which tunnel backends this kernel offers, and what the others miss"
    )
    p.add_argument("-i", "--interface", help="probe with this interface (default: lo)")
    p.add_argument("--netns", help="probe the kernel of this named network namespace")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)

    if args.role == "doctor":
        return _doctor(args)

    if args.role == "check-policy":
        from .policy import Policy

        policy = Policy.load(args.policy)
        print(
            f"{args.policy}: OK ({len(policy.lma_entries)} LMA, {len(policy.mag_address)} MAG, "
            f"{len(policy.profiles)} mobile nodes)"
        )
        return 0

    from .daemon.agents import build, run

    agent = build(args.role, args.config)
    if args.check:
        print(f"{args.config}: OK ({args.role}, {agent.machine.address})")
        dataplane = agent.config.dataplane
        status = 0 if dataplane is None else _check_kernel(args.config, dataplane)
        return status or _check_signaling_security(agent.config_path, agent.config)
    logging.basicConfig(
        level=(args.log_level or agent.log_level).upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        run(agent)
    except (PmipError, OSError) as exc:
        return report_error("pmip6d", exc, logging.getLogger("pmip6d"))
    return 0


def _check_signaling_security(config_path: Path, config: Any) -> int:
    """``--check``: which ESP would run, and refuse ``implementation: kernel`` as a start would."""
    security = config.signaling_security
    if security is None or security.mode != "esp":
        return 0
    if security.implementation != "agent" and os.geteuid() != 0:
        print("signaling security: ESP, kernel not probed (needs root)")
        return 0
    from .security.peers import choose_implementation

    try:
        chosen = choose_implementation(security, config_path)
    except PmipError as exc:
        return report_error("pmip6d", exc)
    print(f"signaling security: ESP, {chosen} implementation")
    return 0


def _check_kernel(config: Path, dataplane: Any) -> int:
    """``--check``: can this kernel run the configured tunnel backend? Root only (probes
    change and restore kernel state); without root the kernel is not judged."""
    if os.geteuid() != 0:
        print("kernel: not probed (needs root)")
        return 0
    from .dataplane import probe

    try:
        report, where = probe.report_for(dataplane.core_interface)
    except OSError as exc:
        print(f"kernel: not probed: {exc}")
        return 0
    print(f"kernel (probed on {where}):")
    for line in report.lines():
        print(f"  {line}")
    wanted = dataplane.backend
    if (wanted == "auto" and report.usable) or wanted in report.usable:
        return 0
    if wanted == "auto":
        why = "; ".join(
            f"{o.backend}: missing {', '.join(probe.FEATURES[k] for k in o.missing)}"
            for o in report.offers
        )
        print(
            f"pmip6d: {config}: dataplane.backend: no tunnel backend works on this kernel: {why}",
            file=sys.stderr,
        )
    else:
        offer = next(o for o in report.offers if o.backend == wanted)
        missing = ", ".join(probe.FEATURES[k] for k in offer.missing)
        hint = f" (this kernel offers {', '.join(report.usable)})" if report.usable else ""
        print(
            f"pmip6d: {config}: dataplane.backend: {wanted!r} cannot run on this kernel: "
            f"missing {missing}{hint}",
            file=sys.stderr,
        )
    return EXIT_KERNEL


def _doctor(args: argparse.Namespace) -> int:
    from .dataplane import probe

    try:
        report, where = probe.report_for(args.interface, args.netns)
    except OSError as exc:
        print(f"pmip6d doctor: cannot ask the kernel: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "probed_on": where,
                    "forwarding": report.forwarding,
                    "features": {
                        key: {"present": why is None, "about": probe.FEATURES[key], "why": why}
                        for key, why in report.features.items()
                    },
                    "backends": {
                        o.backend: {"available": o.ok, "missing": o.missing} for o in report.offers
                    },
                    "auto": report.usable[0] if report.usable else None,
                },
                indent=2,
            )
        )
    else:
        note = "" if os.geteuid() == 0 else " (not root: the kernel refuses most probes)"
        print(f"kernel {os.uname().release}, probed on {where}{note}")
        for line in report.lines():
            print(line)
    return 0 if report.usable else EXIT_KERNEL


# --------------------------------------------------------------------------- pmipctl


def _default_socket() -> Path | None:
    env = os.environ.get("PMIPCTL_SOCKET")
    if env:
        return Path(env)
    present = [p for p in DEFAULT_SOCKETS if p.exists()]
    return present[0] if len(present) == 1 else None


# The columns of `pmipctl bindings` (key, title), public for other views of the same rows.
LMA_COLUMNS = [
    ("mn_id", "MN-ID"),
    ("hnps", "HNP"),
    ("proxy_coa", "PROXY-COA"),
    ("state", "STATE"),
    ("lifetime_remaining", "LEFT(s)"),
    ("lifetime", "LIFETIME"),
    ("handoffs", "HANDOFFS"),
]
MAG_COLUMNS = [
    ("mac", "MAC"),
    ("mn_id", "MN-ID"),
    ("state", "STATE"),
    ("hnps", "HNP"),
    ("lma", "LMA"),
    ("lifetime_remaining", "LEFT(s)"),
    ("exchange", "PENDING"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def render_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    cells = [[title for _unused, title in columns]]
    cells += [[_cell(row.get(key)) for key, _unused in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in cells
    )


MAG_TIMELINE_COLUMNS = [
    ("mn_id", "MN-ID"),
    ("reason", "TRIGGER"),
    ("l2_to_pbu_ms", "L2→PBU"),
    ("pbu_to_pba_ms", "PBU→PBA"),
    ("pba_to_ra_ms", "PBA→RA"),
    ("total_ms", "TOTAL"),
    ("l2_queued_ms", "L2 QUEUED"),
    ("pbu_out_ms", "PBU OUT"),
    ("pba_queued_ms", "PBA QUEUED"),
    ("routes_ms", "ROUTES"),
    ("ra_out_ms", "RA OUT"),
]
"""``pmipctl timeline`` at a MAG: Table II's phases per handover, ms (``--json``: every field)."""
LMA_TIMELINE_COLUMNS = [
    ("mn_id", "MN-ID"),
    ("previous", "FROM"),
    ("mag", "TO"),
    ("queued_ms", "QUEUED"),
    ("decide_ms", "DECIDE"),
    ("routes_ms", "ROUTES"),
    ("durable_ms", "DURABLE"),
    ("send_ms", "SEND"),
    ("total_ms", "PBU→PBA"),
]
"""``pmipctl timeline`` at the LMA: its share of PBU→PBA per handover, ms."""

REVOCATION_COLUMNS = [
    ("mn_id", "MN-ID"),
    ("mag", "MAG"),
    ("sequence", "SEQUENCE"),
    ("trigger", "TRIGGER"),
    ("retries", "RETRIES"),
    ("next_retry_in", "NEXT RETRY (S)"),
]
"""``pmipctl revocations`` at the LMA: the RFC 5846 BRIs still waiting for their BRA."""

HEARTBEAT_COLUMNS = [
    ("address", "PEER"),
    ("state", "STATE"),
    ("missed", "MISSED"),
    ("restart_counter", "RESTARTS"),
    ("last_response_ago", "LAST ANSWER (S AGO)"),
    ("down_for", "DOWN FOR (S)"),
]
"""``pmipctl status``: one row per RFC 5847 heartbeat peer."""


def _heartbeat_line(hb: dict) -> str:
    if not hb.get("interval"):
        return "off"
    grace = hb.get("peer_down_grace")
    parts = [f"every {hb['interval']:g} s, down after {hb.get('missing_allowed')} missed"]
    if grace:
        parts.append(f"bindings of a peer down {grace:g} s removed")
    if hb.get("restart_counter") is not None:
        parts.append(f"own restart counter {hb['restart_counter']}")
    return "; ".join(parts)


def _print(data: Any, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    if args.command in ("bindings", "attach", "detach"):
        columns = MAG_COLUMNS if data and "mac" in data[0] else LMA_COLUMNS
        print(render_table(data, columns) if data else "(no bindings)")
    elif args.command == "revoke":
        print(render_table(data, LMA_COLUMNS) if data else "(no binding: nothing revoked)")
    elif args.command == "revocations":
        print(render_table(data, REVOCATION_COLUMNS) if data else "(no revocation pending)")
    elif args.command == "timeline":
        columns = MAG_TIMELINE_COLUMNS if data and "mac" in data[0] else LMA_TIMELINE_COLUMNS
        print(render_table(data, columns) if data else "(no handover recorded yet)")
    elif isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            if key == "heartbeat" and isinstance(value, dict):
                print(f"{key.ljust(width)}  {_heartbeat_line(value)}")
                if value.get("peers"):
                    print(render_table(value["peers"], HEARTBEAT_COLUMNS))
                continue
            print(f"{key.ljust(width)}  {json.dumps(value) if isinstance(value, dict) else value}")
    else:
        print(data)


def pmipctl_main(argv: list[str] | None = None) -> int:
    """``pmipctl``: any PmipError (or OSError) ends it through report_error."""
    try:
        return _pmipctl(argv)
    except (PmipError, OSError) as exc:
        return report_error("pmipctl", exc)


def _pmipctl(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmipctl", description="Inspect and drive a running pmip6d"
    )
    parser.add_argument(
        "-s", "--socket", type=Path, help="control socket (default: the only one in /run/pmip6d)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="role, address and sizes")
    sub.add_parser("counters", help="message and event counters")
    b = sub.add_parser("bindings", help="binding cache (LMA) or binding update list (MAG)")
    b.add_argument("--limit", type=int)
    b.add_argument("--mn", help="only this MN-Identifier (LMA)")
    b.add_argument("--mac", help="only this MAC (MAG)")
    a = sub.add_parser("attach", help="MAG: inject a layer-2 attach of MAC")
    a.add_argument("mac")
    a.add_argument("--interface")
    a.add_argument("--handoff-indicator", type=int, choices=range(1, 6), metavar="1-5")
    d = sub.add_parser("detach", help="MAG: inject a layer-2 detach of MAC")
    d.add_argument("mac")
    r = sub.add_parser(
        "revoke", help="LMA: remove MN-ID's binding and route now and tell its MAG (RFC 5846)"
    )
    r.add_argument("mn_id", metavar="MN-ID")
    sub.add_parser("revocations", help="LMA: the BRIs (RFC 5846) still waiting for a BRA")
    t = sub.add_parser(
        "timeline", help="handover timing, ms: Table II's phases (MAG), PBU→PBA's parts (LMA)"
    )
    t.add_argument("--limit", type=int, help="only the last LIMIT handovers")
    args = parser.parse_args(argv)

    path = args.socket or _default_socket()
    if path is None:
        print(
            "pmipctl: no control socket given and none (or several) in /run/pmip6d; use -s",
            file=sys.stderr,
        )
        return 2
    call_args: dict[str, Any] = {}
    if args.command == "bindings":
        if args.limit is not None:
            call_args["limit"] = args.limit
        if args.mn:
            call_args["mn_id"] = args.mn
        if args.mac:
            call_args["mac"] = args.mac
    elif args.command == "attach":
        call_args = {
            "mac": args.mac,
            "interface": args.interface,
            "handoff_indicator": args.handoff_indicator,
        }
    elif args.command == "detach":
        call_args = {"mac": args.mac}
    elif args.command == "revoke":
        call_args = {"mn_id": args.mn_id}
    elif args.command == "timeline" and args.limit is not None:
        call_args = {"limit": args.limit}
    client = ControlClient(path)
    try:
        client.connect()
    except ControlError as exc:  # exit 2: no connection, nothing was asked of the agent
        print(f"pmipctl: cannot reach {path}: {exc.stderr}", file=sys.stderr)
        return 2
    try:
        data = client.call(args.command, **call_args)
    except ControlError as exc:
        print(f"pmipctl: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    _print(data, args)
    return 0


if __name__ == "__main__":
    sys.exit(pmip6d_main())
