"""The emulated APs' radio side: moving an MN's radio link between AP bridges and sending
the syslog lines an AP's firmware would, in-process (:class:`Air`, ``roam="inline"``) or
through the ``pmip6d-ap`` tool (``roam="tool"``)."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from .labs import Lab, Station


class Air:
    """The emulated APs' radio side, driven in-process (see ``roam`` in the module doc).

    The AP bridges are in the lab's radio medium namespace; each AP's syslog socket is
    opened here once, in the AP's own namespace (``syslog_netns``: its container) and
    bound to its address, before any radio link moves."""

    def __init__(self, lab: Lab) -> None:
        from pyroute2 import NetNS
        from pyroute2 import netns as pyroute2_netns

        from ..emulated_ap import load_aps

        self.lab = lab
        self.aps = load_aps(lab.aps_file)
        netns = {ap.netns for ap in self.aps.values()}
        if len(netns) != 1 or None in netns:
            raise RuntimeError("inline roaming needs every AP bridge in one named namespace")
        self.netns = netns.pop()
        self.ipr = NetNS(self.netns)
        self.sockets: dict[str, socket.socket] = {}
        try:
            for name, ap in self.aps.items():
                family = socket.AF_INET6 if ":" in ap.syslog_to else socket.AF_INET
                target = ap.syslog_netns or ap.netns
                if target.startswith("pid:"):
                    target = f"/proc/{target[4:]}/ns/net"
                sock = pyroute2_netns.create_socket(target, family, socket.SOCK_DGRAM)
                self.sockets[name] = sock
                if ap.syslog_from:
                    sock.bind((ap.syslog_from, 0))
            self.bridges = {name: self._index(ap.bridge) for name, ap in self.aps.items()}
        except BaseException:
            self.close()
            raise

    def _index(self, ifname: str) -> int:
        found = self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise RuntimeError(f"no {ifname} in {self.netns}")
        return found[0]

    def where(self, st: Station) -> str | None:
        """The AP whose bridge the station's radio port is in (up), or None."""
        found = self.ipr.link_lookup(ifname=st.port)
        if not found:
            return None
        link = self.ipr.get_links(found[0])[0]
        master = link.get_attr("IFLA_MASTER")
        if not master or not (link["flags"] & 1):  # IFF_UP
            return None
        return next((ap for ap, index in self.bridges.items() if index == master), None)

    def send(self, ap: str, line: str) -> float:
        cfg = self.aps[ap]
        self.sockets[ap].sendto(line.encode(), (cfg.syslog_to, cfg.syslog_port))
        return time.time()

    def associate(self, st: Station, ap: str) -> dict[str, float]:
        from ..emulated_ap import associated

        self.ipr.link("set", index=self._index(st.port), master=self.bridges[ap], state="up")
        moved = time.time()
        st.ap = ap
        sent = self.send(ap, associated(self.aps[ap], _mac(st.mac), st.name.upper()))
        return {"moved_at": moved, "assoc_sent_at": sent}

    def relog(self, st: Station) -> float:
        """The AP where the station is logs its association again (no radio change)."""
        from ..emulated_ap import associated

        return self.send(st.ap, associated(self.aps[st.ap], _mac(st.mac), st.name.upper()))

    def roam(self, st: Station, dst: str) -> dict[str, Any]:
        """What ``pmip6d-ap roam`` does: new bridge, Reassociated from the new AP, Roamed from
        the old one; the port is looked up and the lines' sockets opened beforehand."""
        from ..emulated_ap import associated, roamed

        src = st.ap
        index = self._index(st.port)
        started = time.time()
        self.ipr.link("set", index=index, master=self.bridges[dst])
        moved = time.time()
        st.ap = dst
        station = _mac(st.mac)
        reassoc = self.send(
            dst, associated(self.aps[dst], station, st.name.upper(), reassociation=True)
        )
        roamed_at = self.send(src, roamed(self.aps[src], station, self.aps[dst]))
        return {
            "move_started_at": started,
            "moved_at": moved,
            "reassoc_sent_at": reassoc,
            "roamed_sent_at": roamed_at,
        }

    def disassociate(self, st: Station) -> None:
        from ..emulated_ap import deauthenticated

        ap = st.ap
        self.ipr.link("set", index=self._index(st.port), master=0, state="down")
        st.ap = None
        if ap is not None:
            self.send(ap, deauthenticated(self.aps[ap], _mac(st.mac)))

    def close(self) -> None:
        for sock in self.sockets.values():
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(Exception):
            self.ipr.close()


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def associate(lab: Lab, air: Air | None, st: Station, ap: str) -> None:
    if air is not None:
        air.associate(st, ap)
    else:
        lab.ap_tool(
            *("associate", "--ap", ap, "--station", st.mac, "--port", st.port),
            *("--name", st.name.upper()),
        )
        st.ap = ap


def disassociate(lab: Lab, air: Air | None, st: Station) -> None:
    if air is not None:
        air.disassociate(st)
    elif st.ap is not None:
        lab.ap_tool("disassociate", "--ap", st.ap, "--station", st.mac, "--port", st.port)
        st.ap = None
