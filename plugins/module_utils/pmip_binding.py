# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Binding state as the agents report it, and what a playbook expects of it.

The logic of the ``pmip_binding_info`` and ``pmip_binding`` modules: reading
rows through the control socket (:class:`BindingSource`), comparing one
mobile node's rows with an :class:`Expectation` (:func:`evaluate`, pure) and
polling until they match or time runs out (:func:`wait_for`, clock and sleep
injected so tests need no real waiting).

Row fields (``files/pmip6d``: ``lma/machine.py`` and ``mag/machine.py``
``binding_rows``): an LMA row has ``mn_id, hnps, proxy_coa, state
(active|deregistering), mn_link_layer_id, lifetime_remaining, ...``; a MAG row
``mn_id, mac, state (registering|active|deregistering), hnps, lma,
lifetime_remaining (null unless active), ...``.
"""

from __future__ import annotations

import ipaddress
import time

from ansible_collections.netlmm.pmipv6.plugins.module_utils import pmip_rules as rules
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_control import (
    ControlClient,
    check_role,
    socket_path,
)

PRESENT_STATES = ("active",)
"""A binding counts as present only when active: registering has no tunnel yet."""
ABSENT_STATES = ("deregistering",)
"""A binding on its way out (MinDelayBeforeBCEDelete at the LMA) already counts as absent."""


# --------------------------------------------------------------------------- values


# The agent's rules (module_utils/pmip_rules.py is its rules.py): the same spellings
# accepted, the same canonical text out.


def normalize_mac(text):
    """``02:00:5E:00:53:01``, ``02-00-5e-00-53-01``, ``0200.5e00.5301`` -> ``02:00:5e:00:53:01``."""
    return rules.mac_address(text)


def normalize_address(text):
    return rules.ipv6_address(text)


def normalize_prefix(text):
    return str(rules.ipv6_prefix(text))


def _same_address(a, b):
    try:
        return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)
    except (TypeError, ValueError):
        return a == b


def _row_prefixes(row):
    out = []
    for text in row.get("hnps") or []:
        try:
            out.append(str(ipaddress.IPv6Network(text, strict=False)))
        except ValueError:
            out.append(text)
    return out


# --------------------------------------------------------------------------- reading


def filter_rows(rows, mn_id=None, mac=None):
    """Rows of one mobile node, by identifier and/or MAC (LMA rows: ``mn_link_layer_id``)."""
    out = []
    for row in rows:
        if mn_id is not None and row.get("mn_id") != mn_id:
            continue
        if mac is not None:
            row_mac = row.get("mac", row.get("mn_link_layer_id"))
            try:
                if row_mac is None or normalize_mac(row_mac) != mac:
                    continue
            except ValueError:
                continue
        out.append(row)
    return out


AGENT_SOCKET_ARGS = {
    "role": {"type": "str", "choices": ["lma", "mag"]},
    "socket": {"type": "path"},
    "socket_timeout": {"type": "float", "default": 5.0},
}
"""The options of doc fragment ``netlmm.pmipv6.agent_socket``: how a module reaches an agent."""


class BindingSource:
    """One agent's binding table through its control socket.

    Every read opens a fresh connection, so a wait survives an agent restart.
    The agent's ``status`` is read once (it holds the role and this agent's own
    address) and remembered.
    """

    def __init__(self, role=None, path=None, timeout=5.0):
        self.path = socket_path(role, path)
        self.requested_role = role
        self.timeout = timeout
        self.role = None
        self._status = None

    def status(self):
        if self._status is None:
            with ControlClient(self.path, self.timeout) as client:
                status = client.call("status")
            self.role = check_role(self.path, self.requested_role, status)
            self._status = status
        return self._status

    @property
    def own_address(self):
        status = self.status()
        return status.get("address") if isinstance(status, dict) else None

    def counters(self):
        with ControlClient(self.path, self.timeout) as client:
            return client.call("counters")

    def bindings(self, mn_id=None, mac=None, limit=None):
        """Rows of the agent's table, filtered on the agent where it can and here otherwise.

        The LMA filters by ``mn_id``, the MAG by ``mac``; the other filter is
        applied here (then ``limit`` too, after filtering).
        """
        self.status()
        args = {}
        local_mn_id, local_mac = mn_id, mac
        if self.role == "lma" and mn_id is not None:
            args["mn_id"], local_mn_id = mn_id, None
        if self.role == "mag" and mac is not None:
            args["mac"], local_mac = mac, None
        filtering_here = local_mn_id is not None or local_mac is not None
        if limit is not None and not filtering_here:
            args["limit"] = limit
        with ControlClient(self.path, self.timeout) as client:
            rows = client.call("bindings", **args)
        if not isinstance(rows, list):
            rows = []
        rows = filter_rows(rows, local_mn_id, local_mac)
        if limit is not None:
            rows = rows[:limit]
        return rows

    def revoke(self, mn_id):
        """LMA only: remove the MN's binding and route, the agent tells its MAG (RFC 5846).

        Returns the rows the agent removed (empty: there was nothing to revoke).
        """
        with ControlClient(self.path, self.timeout) as client:
            rows = client.call("revoke", mn_id=mn_id)
        return rows if isinstance(rows, list) else []


def bound_rows(rows):
    """The rows that make a binding present: what revocation would remove."""
    return [r for r in rows if isinstance(r, dict) and r.get("state") != "deregistering"]


# --------------------------------------------------------------------------- expectations


class Expectation:
    """What one mobile node's binding should look like at one agent.

    ``serving_mag`` at an LMA is the expected Proxy-CoA. At a MAG it decides
    presence: equal to this MAG's address means the binding must be active
    here, any other address means it must not be (the MN is served elsewhere).
    """

    FIELDS = ("state", "serving_mag", "hnp", "tunnel", "min_lifetime")

    def __init__(
        self,
        role,
        state=None,
        hnp=None,
        serving_mag=None,
        tunnel=None,
        min_lifetime=None,
        own_address=None,
    ):
        if role not in ("lma", "mag"):
            raise ValueError(f"role must be lma or mag, not {role!r}")
        self.role = role
        self.hnp = normalize_prefix(hnp) if hnp is not None else None
        self.serving_mag = normalize_address(serving_mag) if serving_mag is not None else None
        self.tunnel = normalize_address(tunnel) if tunnel is not None else None
        if min_lifetime is not None and min_lifetime < 0:
            raise ValueError("min_lifetime must not be negative")
        self.min_lifetime = min_lifetime
        self.own_address = own_address
        self.here = None
        """At a MAG with serving_mag: whether this MAG is the one that should serve."""
        if role == "mag" and self.serving_mag is not None:
            if own_address is None:
                raise ValueError("the MAG did not report its own address; cannot use serving_mag")
            self.here = _same_address(self.serving_mag, own_address)
            implied = "present" if self.here else "absent"
            if state is not None and state != implied:
                raise ValueError(
                    f"state={state} contradicts serving_mag={self.serving_mag}: this MAG is "
                    f"{own_address}, so serving_mag means the binding is {implied} here"
                )
            state = implied
        self.state = state or "present"
        if self.state not in ("present", "absent"):
            raise ValueError(f"state must be present or absent, not {self.state!r}")

    def expected(self):
        """The checked fields and their expected values (what the module returns)."""
        if self.state == "absent":
            out = {"state": "absent"}
            if self.role == "mag" and self.serving_mag is not None:
                out["serving_mag"] = self.serving_mag
            return out
        out = {"state": "active"}
        for name in ("serving_mag", "hnp", "tunnel", "min_lifetime"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def actual(self, row):
        """The same fields as :meth:`expected`, read from ``row`` (None: no binding)."""
        out = {}
        for name in self.expected():
            out[name] = self._actual_field(name, row)
        return out

    def _actual_field(self, name, row):
        if name == "state":
            return row.get("state") if row is not None else "absent"
        if row is None:
            return None
        if name == "serving_mag":
            if self.role == "lma":
                return row.get("proxy_coa")
            # At a MAG the row says only "served here" (active) or not.
            return self.own_address if row.get("state") in PRESENT_STATES else None
        if name == "hnp":
            return _row_prefixes(row)
        if name == "tunnel":
            return row.get("proxy_coa") if self.role == "lma" else row.get("lma")
        if name == "min_lifetime":
            return row.get("lifetime_remaining")
        raise KeyError(name)

    def mismatches(self, row):
        """``[(field, expected, actual)]`` for every field ``row`` does not satisfy."""
        expected = self.expected()
        actual = self.actual(row)
        out = []
        for name, want in expected.items():
            have = actual[name]
            if not self._matches(name, want, have):
                out.append((name, want, have))
        return out

    def _matches(self, name, want, have):
        if name == "state":
            if want == "absent":
                return have == "absent" or have in ABSENT_STATES
            return have in PRESENT_STATES
        if name == "serving_mag" and self.role == "mag":
            # Here: must be served here. Elsewhere: must not be served here.
            return (have is not None) if self.here else (have is None)
        if have is None:
            return False
        if name == "hnp":
            return want in have
        if name in ("serving_mag", "tunnel"):
            return _same_address(want, have)
        if name == "min_lifetime":
            try:
                return float(have) >= float(want)
            except (TypeError, ValueError):
                return False
        return want == have


class Verdict:
    """The outcome of comparing a mobile node's rows with an expectation."""

    def __init__(self, ok, binding, expected, actual, mismatches, rows):
        self.ok = ok
        self.binding = binding
        self.expected = expected
        self.actual = actual
        self.mismatches = mismatches
        self.rows = rows


def evaluate(rows, expectation):
    """Compare the rows of one mobile node with ``expectation`` (pure).

    present: some row matches every expected field; that row is ``binding``.
    Otherwise the row with the fewest mismatches is reported.
    absent: no row is active or registering.
    """
    rows = list(rows or [])
    candidates = rows or [None]
    best = None
    for row in candidates:
        problems = expectation.mismatches(row)
        if expectation.state == "absent":
            # Every row must satisfy absence; report the first that does not.
            if problems:
                best = (row, problems)
                break
            continue
        if not problems:
            best = (row, problems)
            break
        if best is None or len(problems) < len(best[1]):
            best = (row, problems)
    if best is None:  # absent, and every row (or no row) satisfied it
        row = rows[0] if rows else None
        best = (row, [])
    row, problems = best
    return Verdict(
        ok=not problems,
        binding=row,
        expected=expectation.expected(),
        actual=expectation.actual(row),
        mismatches=problems,
        rows=rows,
    )


def _text(value):
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]" if value else "[]"
    return str(value)


def describe(verdict, who, where, elapsed=None):
    """One line naming every mismatching field with expected and actual values."""
    parts = []
    for name, want, have in verdict.mismatches:
        if name == "min_lifetime":
            parts.append(f"min_lifetime: expected at least {want}s left, actual {_text(have)}")
        elif name == "state" and want == "absent":
            parts.append(f"state: expected absent, actual {_text(have)}")
        elif name == "state" and have == "absent":
            parts.append("state: expected active, actual absent (no binding)")
        else:
            parts.append(f"{name}: expected {_text(want)}, actual {_text(have)}")
    when = "" if elapsed is None else f" after {elapsed:.1f}s"
    return "binding of {} at {} does not match{}: {}".format(who, where, when, "; ".join(parts))


# --------------------------------------------------------------------------- waiting


def wait_for(poll, timeout, interval, clock=time.monotonic, sleep=time.sleep):
    """Call ``poll()`` until it returns a Verdict with ``ok`` or ``timeout`` seconds pass.

    ``poll`` may raise ControlError: transient ones (agent not up yet, no answer)
    are retried until the deadline and the last one is returned, any other is
    raised at once. Returns ``(verdict or None, last transient error or None,
    elapsed seconds)``; at least one poll is always made.
    """
    start = clock()
    deadline = start + max(0.0, float(timeout))
    verdict = None
    error = None
    while True:
        try:
            verdict = poll()
            error = None
        except Exception as exc:  # ControlError, decided by its transient flag
            if not getattr(exc, "transient", False):
                raise
            error = exc
        now = clock()
        if (verdict is not None and verdict.ok and error is None) or now >= deadline:
            return verdict, error, round(now - start, 3)
        sleep(max(0.0, min(float(interval), deadline - now)))
