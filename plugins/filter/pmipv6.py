# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Inventory checks and the agents' policy file, from the collection's inventory model.

``pmipv6_inventory_errors(hostvars, groups)`` lists what is wrong with a PMIPv6
inventory, one readable line per problem naming the host and the variable.
``pmipv6_policy(hostvars, groups)`` builds the policy file the agents read
(``files/pmip6d/src/pmip6d/config.py``, ``PolicyFile``) and refuses an
inventory with errors. Documentation: ``pmipv6_inventory_errors.yml`` and
``pmipv6_policy.yml`` beside this file (``ansible-doc -t filter``).

Inventory model (DEVELOPERS.md): groups ``pmipv6_lma``, ``pmipv6_mag``,
``pmipv6_ap``; ``pmipv6_domain`` and ``pmipv6_mobile_nodes`` for all hosts,
``pmipv6_hnp_pool`` on LMAs, ``pmipv6_address`` and ``pmipv6_core_interface``
on LMAs and MAGs, ``pmipv6_lma`` and ``pmipv6_access_interfaces`` on MAGs,
``pmipv6_mag`` on APs.

The rules for single values (MACs, addresses, prefixes, names) and for
duplicates and overlaps are the agent's own (``pmip6d/rules.py``, vendored as
``module_utils/pmip_rules.py``): what this filter accepts, the agent loads.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError
from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_rules as rules
from ansible_collections.netlmm.pmipv6.plugins.plugin_utils import pmip_signaling as signaling

LMA_GROUP = "pmipv6_lma"
MAG_GROUP = "pmipv6_mag"
AP_GROUP = "pmipv6_ap"
AP_KINDS = ("cisco", "emulated", "hostapd")
"""The AP kinds the access_point role knows (``pmipv6_ap_kind``)."""
AP_EVENTS = ("control_socket", "syslog")
"""How a hostapd AP's station events reach its MAG (``pmipv6_ap_events``)."""
CONNECT_HINTS = ("reassociation", "unknown", "new")
"""What a hostapd connect means (``pmipv6_ap_connect_hint``): Handoff Indicator 3, 4, 1."""
AP_SECURITY = ("wpa2-psk", "open")
HNP_LENGTH = rules.HNP_LENGTH
"""The LMA hands out /64 home network prefixes from its pool (the agent's default)."""

_UNSET = object()


# --------------------------------------------------------------------------- values


def _hosts(groups, name):
    return list((groups or {}).get(name) or [])


def _vars(hostvars, host):
    try:
        return hostvars[host]
    except KeyError:
        return {}


def _is_set(value):
    return value is not None and value != ""


def _ap_kind(apvars):
    """``pmipv6_ap_kind``, else cisco for an IOS network_cli host, else emulated."""
    kind = apvars.get("pmipv6_ap_kind")
    if _is_set(kind):
        return kind
    if apvars.get("ansible_network_os") in ("cisco.ios.ios", "ios"):
        return "cisco"
    return "emulated"


def _ap_events(ap, apvars):
    """A hostapd AP's event path: its control socket where the AP is its MAG, else syslog."""
    events = apvars.get("pmipv6_ap_events")
    if _is_set(events):
        return events
    return "control_socket" if apvars.get("pmipv6_mag") == ap else "syslog"


def _sends_syslog(ap, apvars):
    return _ap_kind(apvars) != "hostapd" or _ap_events(ap, apvars) == "syslog"


# --------------------------------------------------------------------------- the model


class _Model:
    """The inventory read once, with every problem collected on the way."""

    def __init__(self, hostvars, groups):
        self.hostvars = hostvars
        self.groups = groups or {}
        self.errors = []
        self.unreadable = set()  # (host, variable) that failed to template
        self.lmas = _hosts(groups, LMA_GROUP)
        self.mags = _hosts(groups, MAG_GROUP)
        self.aps = _hosts(groups, AP_GROUP)
        self.address = {}  # host -> canonical pmipv6_address
        self.mag_lma = {}  # mag -> lma
        self.pools = {}  # lma -> IPv6Network
        self.pool_set = set()  # LMAs with a pmipv6_hnp_pool, valid or not
        self.mobile_nodes = []  # policy entries
        self.node_hnps = []  # (host, variable, IPv6Network) of fixed prefixes
        self.domain = None
        self._read()

    def error(self, host, variable, problem):
        if (host, variable) not in self.unreadable:  # reported once, as unreadable
            self.errors.append(f"{host}: {variable}: {problem}")

    def get(self, host, name, default=None):
        """A host's variable; one that cannot be templated is an error and counts as unset."""
        try:
            value = _vars(self.hostvars, host).get(name, _UNSET)
        except Exception as exc:  # an undefined variable or failing template inside it
            self.error(host, name, f"cannot be read: {exc}")
            self.unreadable.add((host, name))
            return default
        return default if value is _UNSET else value

    # ------------------------------------------------------------------ reading

    def _read(self):
        if not self.lmas:
            self.error(
                "(inventory)", "groups", f"no host in group {LMA_GROUP}: a domain needs an LMA"
            )
        for host in sorted(set(self.lmas) & set(self.mags)):
            self.error(host, "groups", f"is in both {LMA_GROUP} and {MAG_GROUP}")
        for host in self.lmas:
            self._read_node(host, "LMA")
            self._read_pool(host)
        for host in self.mags:
            self._read_node(host, "MAG")
            self._read_mag(host)
        for host in self.aps:
            self._read_ap(host)
        self._read_syslog_trust()
        self._check_duplicate_addresses()
        self._read_domain_wide()
        self._check_prefix_overlaps()
        self._read_signaling()

    def _read_node(self, host, kind):
        if not rules.is_name(host):
            self.error(
                host,
                "inventory_hostname",
                "cannot be a policy name (letters, digits, '_', '.', '-'; at most 64)",
            )
        address = self.get(host, "pmipv6_address")
        if not _is_set(address):
            self.error(host, "pmipv6_address", f"missing: the {kind}'s IPv6 address is required")
        else:
            try:
                self.address[host] = rules.routable_address(address)
            except ValueError as exc:
                self.error(host, "pmipv6_address", str(exc))
        interface = self.get(host, "pmipv6_core_interface")
        if not _is_set(interface):
            self.error(
                host, "pmipv6_core_interface", "missing: the interface towards the core is required"
            )
        elif not rules.is_interface_name(interface):
            self.error(host, "pmipv6_core_interface", f"{interface!r} is not an interface name")
        tunnels = self.get(host, "pmipv6_tunnels")
        if tunnels is not None and tunnels not in ("static", "dynamic"):
            self.error(host, "pmipv6_tunnels", f"{tunnels!r} is not static or dynamic")

    def _read_pool(self, host):
        pool = self.get(host, "pmipv6_hnp_pool")
        if not _is_set(pool):
            return
        self.pool_set.add(host)  # even if invalid: that is its own error
        try:
            network = rules.ipv6_prefix(pool)
        except ValueError as exc:
            self.error(host, "pmipv6_hnp_pool", str(exc))
            return
        if network.prefixlen > HNP_LENGTH:
            self.error(
                host,
                "pmipv6_hnp_pool",
                f"{network} is longer than the /{HNP_LENGTH} home network prefixes it hands out",
            )
            return
        self.pools[host] = network

    def _read_mag(self, host):
        lma = self.get(host, "pmipv6_lma")
        if not _is_set(lma):
            self.error(host, "pmipv6_lma", f"missing: name the MAG's LMA (a host in {LMA_GROUP})")
        elif not isinstance(lma, str) or lma not in self.lmas:
            self.error(host, "pmipv6_lma", f"{lma!r} is not a host in group {LMA_GROUP}")
        else:
            self.mag_lma[host] = lma
        interfaces = self.get(host, "pmipv6_access_interfaces")
        if interfaces is None or interfaces == [] or interfaces == "":
            self.error(
                host,
                "pmipv6_access_interfaces",
                "missing: list the interfaces where access points and mobile nodes attach",
            )
        elif isinstance(interfaces, str) or not isinstance(interfaces, (list, tuple)):
            self.error(
                host,
                "pmipv6_access_interfaces",
                f"must be a list of interface names, not {interfaces!r}",
            )
        else:
            seen = set()
            for i, name in enumerate(interfaces):
                if not rules.is_interface_name(name):
                    self.error(
                        host,
                        f"pmipv6_access_interfaces[{i}]",
                        f"{name!r} is not an interface name",
                    )
                elif name in seen:
                    self.error(host, f"pmipv6_access_interfaces[{i}]", f"{name} is listed twice")
                elif name == self.get(host, "pmipv6_core_interface"):
                    self.error(
                        host,
                        f"pmipv6_access_interfaces[{i}]",
                        f"{name} is also the core interface",
                    )
                seen.add(name)
        shared = self.get(host, "pmipv6_shared_addresses")
        if shared is not None and not isinstance(shared, bool):
            self.error(host, "pmipv6_shared_addresses", f"must be true or false, not {shared!r}")
        if shared is None or shared is True:
            mac = self.get(host, "pmipv6_shared_mac")
            if mac is not None:
                try:
                    rules.unicast_mac(mac)
                except ValueError as exc:
                    self.error(host, "pmipv6_shared_mac", str(exc))
            link_local = self.get(host, "pmipv6_shared_link_local")
            if link_local is not None:
                try:
                    rules.link_local_address(link_local)
                except ValueError as exc:
                    self.error(host, "pmipv6_shared_link_local", str(exc))

    def _read_ap(self, host):
        mag = self.get(host, "pmipv6_mag")
        if not _is_set(mag):
            self.error(
                host,
                "pmipv6_mag",
                f"missing: name the MAG the AP is uplinked to (a host in {MAG_GROUP})",
            )
        elif not isinstance(mag, str) or mag not in self.mags:
            self.error(host, "pmipv6_mag", f"{mag!r} is not a host in group {MAG_GROUP}")
        address = self.get(host, "pmipv6_ap_address")
        if _is_set(address):
            try:
                rules.ip_address(address)
            except ValueError as exc:
                self.error(host, "pmipv6_ap_address", str(exc))
        kind = self.get(host, "pmipv6_ap_kind")
        if _is_set(kind) and kind not in AP_KINDS:
            self.error(
                host,
                "pmipv6_ap_kind",
                f"{kind!r} is not an AP kind the access_point role knows ({', '.join(AP_KINDS)})",
            )
        elif kind == "hostapd":
            self._read_hostapd_ap(host, mag)

    def _read_hostapd_ap(self, host, mag):
        """A Linux or OpenWrt AP running hostapd: radio, SSID, security, event path."""
        events = self.get(host, "pmipv6_ap_events")
        if _is_set(events) and events not in AP_EVENTS:
            self.error(host, "pmipv6_ap_events", f"{events!r} is not {' or '.join(AP_EVENTS)}")
        elif events == "control_socket" and mag != host:
            self.error(
                host,
                "pmipv6_ap_events",
                f"control_socket needs hostapd on the MAG itself ({mag!r} is another host):"
                " put the MAG in the AP group with pmipv6_mag naming itself, or use syslog",
            )
        for name in ("pmipv6_ap_radio", "pmipv6_ap_bridge"):
            value = self.get(host, name)
            if value is not None and not rules.is_interface_name(value):
                self.error(host, name, f"{value!r} is not an interface name")
        ssid = self.get(host, "pmipv6_ap_ssid")
        if not _is_set(ssid):
            self.error(host, "pmipv6_ap_ssid", "missing: the network name the AP announces")
        elif not isinstance(ssid, str) or not 1 <= len(ssid.encode()) <= 32:
            self.error(host, "pmipv6_ap_ssid", "must be 1 to 32 bytes of text")
        elif any(ord(c) < 32 for c in ssid):
            self.error(host, "pmipv6_ap_ssid", "must not contain control characters")
        channel = self.get(host, "pmipv6_ap_channel")
        if channel is not None and (
            isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 196
        ):
            self.error(host, "pmipv6_ap_channel", f"{channel!r} is not a channel number (1-196)")
        hint = self.get(host, "pmipv6_ap_connect_hint")
        if hint is not None and hint not in CONNECT_HINTS:
            self.error(
                host, "pmipv6_ap_connect_hint", f"{hint!r} is not {', '.join(CONNECT_HINTS)}"
            )
        security = self.get(host, "pmipv6_ap_security", "wpa2-psk")
        if security not in AP_SECURITY:
            self.error(
                host, "pmipv6_ap_security", f"{security!r} is not {' or '.join(AP_SECURITY)}"
            )
        elif security == "wpa2-psk":
            secret = self.get(host, "pmipv6_ap_wpa_passphrase")
            if not _is_set(secret):
                self.error(
                    host,
                    "pmipv6_ap_wpa_passphrase",
                    "missing: WPA2-PSK needs a passphrase (keep it in Ansible Vault),"
                    " or set pmipv6_ap_security: open",
                )
            elif not isinstance(secret, str) or not 8 <= len(secret) <= 63:
                # The value is a secret: its length is all the message says.
                self.error(host, "pmipv6_ap_wpa_passphrase", "must be 8 to 63 characters")
            elif any(not 32 <= ord(c) <= 126 for c in secret):
                self.error(
                    host, "pmipv6_ap_wpa_passphrase", "must be printable ASCII (IEEE 802.11i)"
                )

    def _read_syslog_trust(self):
        """What the MAG's syslog listener and its nftables rules believe (issue 12).

        A MAG with APs needs the one address they send to (never a wildcard: that
        would take syslog from the MNs' links too); an AP may name the MAG interface
        its syslog arrives on and its MAC, both checked by the MAG's nftables rules.
        """
        family = {}  # mag -> IP version of its syslog address
        senders = [ap for ap in self.aps if _sends_syslog(ap, self._ap_vars(ap))]
        served = {self.get(ap, "pmipv6_mag") for ap in senders}
        for host in self.mags:
            address = self.get(host, "pmipv6_syslog_address")
            if not _is_set(address):
                if host in served:
                    self.error(
                        host,
                        "pmipv6_syslog_address",
                        "missing: the MAG's address its APs send syslog to is required",
                    )
                continue
            try:
                parsed = ipaddress.ip_address(rules.ip_address(address))
            except ValueError as exc:
                self.error(host, "pmipv6_syslog_address", str(exc))
                continue
            if parsed.is_unspecified or parsed.is_multicast:
                self.error(
                    host,
                    "pmipv6_syslog_address",
                    f"{address} is not one address of the MAG: give the address its APs send to",
                )
                continue
            family[host] = parsed.version
        for host in senders:
            interface = self.get(host, "pmipv6_ap_syslog_interface")
            if interface is not None and not rules.is_interface_name(interface):
                self.error(
                    host, "pmipv6_ap_syslog_interface", f"{interface!r} is not an interface name"
                )
            mac = self.get(host, "pmipv6_ap_mac")
            if _is_set(mac):  # empty: the rules check address and interface only
                try:
                    rules.unicast_mac(mac)
                except ValueError as exc:
                    self.error(host, "pmipv6_ap_mac", str(exc))
            address = self.get(host, "pmipv6_ap_address")
            mag = self.get(host, "pmipv6_mag")
            if not _is_set(address):
                if mag in family:
                    self.error(
                        host,
                        "pmipv6_ap_address",
                        "missing: the address the AP sends syslog from is required",
                    )
                continue
            try:
                version = ipaddress.ip_address(rules.ip_address(address)).version
            except ValueError:
                continue  # reported by _read_ap
            if mag in family and family[mag] != version:
                self.error(
                    host,
                    "pmipv6_ap_address",
                    f"IPv{version}, but its MAG's pmipv6_syslog_address is IPv{family[mag]}",
                )

    def _ap_vars(self, ap):
        return {
            name: self.get(ap, name)
            for name in ("pmipv6_ap_kind", "pmipv6_ap_events", "pmipv6_mag", "ansible_network_os")
        }

    def _check_duplicate_addresses(self):
        owner = rules.Unique()
        for host in self.lmas + [m for m in self.mags if m not in self.lmas]:
            address = self.address.get(host)
            if address is None:
                continue
            other = owner.claim(address, host)
            if other is not None:
                self.error(
                    host, "pmipv6_address", f"{address} is also the pmipv6_address of {other}"
                )

    # ------------------------------------------------------------------ domain-wide variables

    def _domain_wide(self, name):
        """(host, value) of a variable meant to be the same for all (group_vars/all).

        Read from the LMAs and MAGs; if they see different values, that is an error
        (the agents would get policies that disagree).
        """
        first = None
        for host in self.lmas + self.mags:
            value = self.get(host, name, _UNSET)
            if value is _UNSET:
                continue
            if first is None:
                first = (host, value)
            elif value != first[1]:
                self.error(
                    host,
                    name,
                    f"differs from the value {first[0]} has: "
                    "define it once for all hosts (group_vars/all)",
                )
        return first if first is not None else (self.lmas[0] if self.lmas else "(inventory)", None)

    def _read_domain_wide(self):
        host, domain = self._domain_wide("pmipv6_domain")
        if not _is_set(domain):
            self.error(host, "pmipv6_domain", "missing: the realm of the mobile node identifiers")
        else:
            try:
                self.domain = str(rules.domain_name(domain))
            except ValueError as exc:
                self.error(host, "pmipv6_domain", str(exc))
        host, nodes = self._domain_wide("pmipv6_mobile_nodes")
        if nodes is None:
            return
        if not isinstance(nodes, (list, tuple)):
            self.error(host, "pmipv6_mobile_nodes", "must be a list of {name, mac, hnps}")
            return
        names = rules.Unique()
        macs = rules.Unique()
        for i, node in enumerate(nodes):
            self._read_mobile_node(host, i, node, names, macs)

    def _read_signaling(self):
        """ESP for the MAG<->LMA signaling (on unless pmipv6_signaling_security is none).

        One message per variable, never the secret's value: a missing secret is usually
        a missing vault file, not a per-host mistake.
        """
        host, mode = self._domain_wide("pmipv6_signaling_security")
        mode = "esp" if mode is None else mode
        if mode not in ("esp", "none"):
            self.error(host, "pmipv6_signaling_security", f"{mode!r} is not esp or none")
            return
        if mode == "none":
            return
        where = "pmipv6_signaling_secret"
        _host, secret = self._domain_wide(where)
        missing = [h for h in self.lmas + self.mags if not _is_set(self.get(h, where))]
        if missing or not isinstance(secret, str):
            self.error(
                ", ".join(missing) or host,
                where,
                "missing: ESP protects the MAG-LMA signaling (pmipv6_signaling_security: esp, "
                "the default) and needs the domain secret, at least "
                f"{signaling.MIN_SECRET_LENGTH} characters, from Ansible Vault (README, Security)",
            )
        elif len(secret) < signaling.MIN_SECRET_LENGTH:
            self.error(
                host,
                where,
                f"too short: at least {signaling.MIN_SECRET_LENGTH} characters "
                "(e.g. openssl rand -hex 32)",
            )
        host, epoch = self._domain_wide("pmipv6_signaling_key_epoch")
        if isinstance(epoch, str) and epoch.strip().isdigit():
            epoch = int(epoch)  # -e pmipv6_signaling_key_epoch=2 arrives as a string
        if epoch is not None and (
            isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1
        ):
            self.error(host, "pmipv6_signaling_key_epoch", f"{epoch!r} is not an integer >= 1")
        host, algorithm = self._domain_wide("pmipv6_signaling_algorithm")
        if algorithm is not None and algorithm not in signaling.KEY_LENGTHS:
            self.error(
                host,
                "pmipv6_signaling_algorithm",
                f"{algorithm!r} is not one of {', '.join(sorted(signaling.KEY_LENGTHS))}",
            )

    def _read_mobile_node(self, host, i, node, names, macs):
        where = f"pmipv6_mobile_nodes[{i}]"
        if not isinstance(node, dict):
            self.error(host, where, "must be a mapping {name, mac, hnps}")
            return
        ok = True
        name = node.get("name")
        if (
            not _is_set(name)
            or not isinstance(name, str)
            or "@" in name
            or any(c.isspace() for c in name)
        ):
            self.error(host, where + ".name", f"{name!r} is not a mobile node name")
            ok = False
        else:
            other = names.claim(name, where)
            mn_id = f"{name}@{self.domain}"
            if other is not None:
                self.error(host, where + ".name", f"{name} is also {other}")
                ok = False
            elif self.domain is not None and len(mn_id) > rules.MN_ID_MAX_LENGTH:
                self.error(
                    host,
                    where + ".name",
                    f"{mn_id} is longer than {rules.MN_ID_MAX_LENGTH} characters",
                )
                ok = False
        unknown = sorted(set(node) - {"name", "mac", "macs", "hnps", "lma", "enabled", "mags"})
        if unknown:
            self.error(host, where, "unknown keys: {}".format(", ".join(unknown)))
            ok = False
        raw_macs = []
        if "mac" in node and "macs" in node:
            self.error(host, where, "give mac or macs, not both")
            ok = False
        elif "macs" in node:
            if isinstance(node["macs"], (list, tuple)) and node["macs"]:
                raw_macs = [(f"{where}.macs[{j}]", m) for j, m in enumerate(node["macs"])]
            else:
                self.error(host, where + ".macs", "must be a non-empty list of MAC addresses")
                ok = False
        elif "mac" in node:
            raw_macs = [(where + ".mac", node["mac"])]
        else:
            self.error(host, where + ".mac", "missing: the mobile node's MAC address")
            ok = False
        canonical_macs = []
        for field, value in raw_macs:
            try:
                mac = rules.unicast_mac(value)
            except ValueError as exc:
                self.error(host, field, str(exc))
                ok = False
                continue
            other = macs.claim(mac, field)
            if other is not None:
                self.error(host, field, f"{mac} is also {other}")
                ok = False
            else:
                canonical_macs.append(mac)
        hnps = []
        raw_hnps = node.get("hnps")
        if raw_hnps is not None:
            if isinstance(raw_hnps, str) or not isinstance(raw_hnps, (list, tuple)):
                self.error(host, where + ".hnps", "must be a list of IPv6 prefixes")
                ok = False
            else:
                for j, text in enumerate(raw_hnps):
                    try:
                        hnps.append((f"{where}.hnps[{j}]", rules.ipv6_prefix(text)))
                    except ValueError as exc:
                        self.error(host, f"{where}.hnps[{j}]", str(exc))
                        ok = False
        lma = node.get("lma")
        if lma is not None:
            if lma not in self.lmas:
                self.error(host, where + ".lma", f"{lma!r} is not a host in group {LMA_GROUP}")
                ok = False
        elif len(self.lmas) == 1:
            lma = self.lmas[0]
        elif len(self.lmas) > 1:
            self.error(
                host,
                where + ".lma",
                f"missing: there are {len(self.lmas)} LMAs, name this node's",
            )
            ok = False
        if lma is not None and lma in self.lmas and not hnps and lma not in self.pool_set:
            self.error(
                host,
                where,
                f"has no hnps and its LMA {lma} has no pmipv6_hnp_pool to take one from",
            )
            ok = False
        enabled = node.get("enabled", True)
        if not isinstance(enabled, bool):
            self.error(host, where + ".enabled", f"must be true or false, not {enabled!r}")
            ok = False
        mags = node.get("mags")
        if mags is not None:
            if isinstance(mags, str) or not isinstance(mags, (list, tuple)):
                self.error(host, where + ".mags", "must be a list of MAG host names")
                ok = False
            else:
                for j, mag in enumerate(mags):
                    if mag not in self.mags:
                        self.error(
                            host,
                            f"{where}.mags[{j}]",
                            f"{mag!r} is not a host in group {MAG_GROUP}",
                        )
                        ok = False
        self.node_hnps.extend((host, field, net) for field, net in hnps)
        if not ok:
            return
        entry = {"id": f"{name}@{self.domain}", "macs": canonical_macs, "lma": str(lma)}
        if hnps:
            entry["hnps"] = [str(net) for _field, net in hnps]
        if "enabled" in node:
            entry["enabled"] = enabled
        if mags is not None:
            entry["mags"] = [str(m) for m in mags]
        self.mobile_nodes.append(entry)

    def _check_prefix_overlaps(self):
        claims = [(host, "pmipv6_hnp_pool", net) for host, net in self.pools.items()]
        claims += self.node_hnps
        found = rules.overlaps([(net, (host, field)) for host, field, net in claims])
        for net, (host, field), other, (other_host, other_field) in found:
            self.error(host, field, f"{net} overlaps {other_field} of {other_host} ({other})")

    # ------------------------------------------------------------------ the policy

    def policy(self):
        # Plain str everywhere (not Ansible's tagged strings): any YAML/JSON dumper can write it.
        return {
            "domain": self.domain,
            "mags": [{"name": str(mag), "address": self.address[mag]} for mag in self.mags],
            "lmas": [
                {
                    "name": str(lma),
                    "address": self.address[lma],
                    "accept_mags": [str(m) for m in self.mags if self.mag_lma.get(m) == lma],
                }
                for lma in self.lmas
            ],
            "mobile_nodes": list(self.mobile_nodes),
        }


# --------------------------------------------------------------------------- filters


HOSTAPD_DEFAULTS = {"radio": "wlan0", "ctrl_dir": "/run/hostapd", "connect_hint": "reassociation"}
"""The hostapd AP settings' defaults; the access_point role's defaults/main.yml repeats them."""
AGENT_RUNTIME_DIR = "/run/pmip6d"
"""The agent unit's RuntimeDirectory: its hostapd client sockets go there (PrivateTmp)."""


def pmipv6_mag_triggers(hostvars, groups, mag):
    """The layer-2 trigger sources of ``mag`` from its APs, by kind and event path.

    ``syslog_aps``: address -> {name, interface[, connect_hint]} for the APs that send
    syslog (Cisco, emulated, hostapd with ``pmipv6_ap_events: syslog``): the MAG's
    ``cisco-syslog`` trigger and its nftables allowlist. ``hostapd``: the ``hostapd``
    trigger of each AP whose hostapd runs on the MAG itself (its control socket).
    """
    mag_vars = _vars(hostvars, mag)
    access = list(mag_vars.get("pmipv6_access_interfaces") or []) or [None]
    syslog_aps, syslog_hosts, hostapd = {}, [], []
    for ap in sorted(_hosts(groups, AP_GROUP)):
        apvars = _vars(hostvars, ap)
        if apvars.get("pmipv6_mag") != mag:
            continue
        kind = _ap_kind(apvars)
        interface = apvars.get("pmipv6_ap_interface") or access[0]
        hint = apvars.get("pmipv6_ap_connect_hint") or HOSTAPD_DEFAULTS["connect_hint"]
        if kind == "hostapd" and _ap_events(ap, apvars) == "control_socket":
            radio = apvars.get("pmipv6_ap_radio") or HOSTAPD_DEFAULTS["radio"]
            ctrl_dir = apvars.get("pmipv6_ap_hostapd_ctrl_dir") or HOSTAPD_DEFAULTS["ctrl_dir"]
            hostapd.append(
                {
                    "type": "hostapd",
                    "name": str(ap),
                    "control": f"{ctrl_dir}/{radio}",
                    "interface": str(apvars.get("pmipv6_ap_bridge") or interface),
                    "connect_hint": str(hint),
                    "local_dir": AGENT_RUNTIME_DIR,
                }
            )
            continue
        entry = {"name": str(ap), "interface": str(interface)}
        if kind == "hostapd":
            entry["connect_hint"] = str(hint)
        syslog_aps[str(apvars.get("pmipv6_ap_address"))] = entry
        syslog_hosts.append(str(ap))
    return {"syslog_aps": syslog_aps, "syslog_ap_hosts": syslog_hosts, "hostapd": hostapd}


def pmipv6_inventory_errors(hostvars, groups):
    """Every problem of a PMIPv6 inventory, as ``host: variable: problem`` lines (empty: none)."""
    return _Model(hostvars, groups).errors


def pmipv6_policy(hostvars, groups):
    """The agents' policy file (a dict) from the inventory; errors raise AnsibleFilterError."""
    model = _Model(hostvars, groups)
    if model.errors:
        raise AnsibleFilterError(
            f"the PMIPv6 inventory has {len(model.errors)} error(s):\n  "
            + "\n  ".join(model.errors)
        )
    return model.policy()


def pmipv6_eui64_link_local(mac):
    """``02:4d:41:47:01:01`` → ``fe80::4d:41ff:fe47:101``: the link-local address a
    Linux interface with that MAC takes by itself (RFC 4291 appendix A, EUI-64)."""
    try:
        octets = bytearray(rules.parse_mac(rules.mac_address(mac)))
    except ValueError:
        raise AnsibleFilterError(f"pmipv6_eui64_link_local: {mac!r} is not a MAC address") from None
    octets[0] ^= 0x02  # the universal/local bit is inverted in the interface identifier
    identifier = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + identifier))


class FilterModule:
    """netlmm.pmipv6 filters: pmipv6_inventory_errors, pmipv6_policy, pmipv6_mag_triggers."""

    def filters(self):
        return {
            "pmipv6_eui64_link_local": pmipv6_eui64_link_local,
            "pmipv6_inventory_errors": pmipv6_inventory_errors,
            "pmipv6_mag_triggers": pmipv6_mag_triggers,
            "pmipv6_policy": pmipv6_policy,
        }
