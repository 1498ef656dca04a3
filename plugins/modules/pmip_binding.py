#!/usr/bin/python
# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pmip_binding
short_description: Assert, or wait until, a mobile node's PMIPv6 binding is as expected; revoke it
version_added: 0.1.0
description:
  - Reads one mobile node's binding from a running C(pmip6d) agent (an LMA's binding cache
    entry or a MAG's binding update list entry) through the agent's control socket and
    compares it with what the task expects.
  - With O(timeout=0) (the default) it looks once. With a positive O(timeout) it polls every
    O(interval) seconds until the binding matches or the time is up, for example while a
    mobile node attaches or hands over.
  - If the binding does not match, the task fails with a message that names every mismatching
    field with its expected and actual value, and returns RV(expected) and RV(actual).
  - While waiting, a missing or refusing socket (an agent that is still starting) is retried;
    if the agent is still unreachable at the deadline, that error is reported. An error
    answer from the agent fails at once.
  - Read-only, except O(state=absent) at an LMA, which revokes the binding (RFC 5846)
    unless O(revoke=false).
author:
  - netlmm.pmipv6 developers (!UNKNOWN)
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - A revocation (O(state=absent) at an LMA) is only reported in check mode, as
        C(changed) with RV(revoked), never carried out.
      - Otherwise the module only reads, so check mode changes nothing about what it does,
        including the wait up to O(timeout). This is what an assertion is expected to do (like
        M(ansible.builtin.assert)), and it keeps a C(--check) run honest about the state
        the hosts are really in.
      - 'If earlier tasks were only simulated in check mode, the binding they would have
        created does not exist; use O(timeout=0) there, for example
        C(timeout: "{{ 0 if ansible_check_mode else 30 }}"), or skip the task.'
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: partial
    details:
      - Only a revocation has a diff, the binding rows before and none after.
extends_documentation_fragment:
  - netlmm.pmipv6.agent_socket
options:
  mn_id:
    description:
      - The mobile node identifier (NAI), for example C(mn1@lab.pmipv6.example).
      - One of O(mn_id) and O(mac) is required. With both, a row must match both.
    type: str
  mac:
    description:
      - The mobile node's MAC address. On a MAG this is the key of its binding update list.
      - On an LMA it is compared with the row's C(mn_link_layer_id).
    type: str
  state:
    description:
      - V(present) - the binding is active (a MAG entry that is still C(registering) does not
        count). The other options are checked too.
      - V(absent) - there is no entry, or only one that is C(deregistering)
        (at the LMA during MinDelayBeforeBCEDelete). O(hnp), O(tunnel) and O(min_lifetime)
        are not checked.
      - At an LMA (and with O(revoke=true), the default) V(absent) is enforced. A binding of
        the mobile node is revoked through the LMA's control socket, like
        C(pmipctl revoke MN-ID). The LMA removes the binding and its route at once and sends
        a Binding Revocation Indication to the MAG that served it, which stops serving the
        mobile node (routes, Router Advertisements) and acknowledges. A mobile node without
        a binding is left alone and the task reports no change.
      - When omitted, V(present); on a MAG with O(serving_mag), whatever O(serving_mag) implies.
    type: str
    choices: [present, absent]
  revoke:
    description:
      - With O(state=absent) at an LMA, whether to revoke a binding that exists (V(true)) or
        only check, and wait up to O(timeout), that there is none (V(false)).
      - A MAG cannot revoke a binding; there O(state=absent) is always only checked.
    type: bool
    default: true
  hnp:
    description:
      - A home network prefix the binding must hold, for example C(2001:db8:100:1::/64).
    type: str
  serving_mag:
    description:
      - The Proxy-CoA (C(pmipv6_address)) of the MAG that should serve the mobile node.
      - On an LMA, the binding cache entry's C(proxy_coa) must be this address.
      - On a MAG, it decides where the binding must be. If it is this MAG's own address, the
        binding must be active here; if it is another MAG's, the binding must not be active
        here. So one task with the same value can run on every MAG after a handover.
        O(state) must not contradict it.
    type: str
  tunnel:
    description:
      - The expected remote tunnel endpoint. On an LMA, the Proxy-CoA of the MAG (the same field
        as O(serving_mag)); on a MAG, the LMA address (C(lma) of the row).
    type: str
  min_lifetime:
    description:
      - The binding must have at least this many seconds of lifetime left.
    type: float
  timeout:
    description:
      - Seconds to wait for the binding to match. V(0) looks once.
    type: float
    default: 0
  interval:
    description:
      - Seconds between two looks while waiting.
    type: float
    default: 0.5
seealso:
  - module: netlmm.pmipv6.pmip_binding_info
"""

EXAMPLES = r"""
- name: The LMA has mn1 bound via mag2, with its home prefix
  netlmm.pmipv6.pmip_binding:
    role: lma
    mn_id: "mn1@{{ pmipv6_domain }}"
    serving_mag: "{{ hostvars['mag2'].pmipv6_address }}"
    hnp: "2001:db8:100::/64"
    min_lifetime: 30
    timeout: 10
  become: true

- name: After the handover mag2 serves mn1 and mag1 does not (run on both MAGs)
  netlmm.pmipv6.pmip_binding:
    role: mag
    mac: "02:00:00:00:01:01"
    serving_mag: "{{ hostvars['mag2'].pmipv6_address }}"
    tunnel: "{{ hostvars[pmipv6_lma].pmipv6_address }}"
    timeout: "{{ 0 if ansible_check_mode else 15 }}"
  become: true

- name: The mobile node mn1 has left the domain (wait for it, revoke nothing)
  netlmm.pmipv6.pmip_binding:
    role: lma
    mn_id: "mn1@{{ pmipv6_domain }}"
    state: absent
    revoke: false
    timeout: 30
    interval: 1
  become: true

- name: Revoke mn2's binding (RFC 5846); its MAG stops serving it at once
  netlmm.pmipv6.pmip_binding:
    role: lma
    mn_id: "mn2@{{ pmipv6_domain }}"
    state: absent
  become: true
"""

RETURN = r"""
binding:
  description:
    - The mobile node's row that was compared (the matching one, or the closest).
    - Null when the agent has no row for the mobile node.
  returned: success and mismatch
  type: dict
  sample:
    mn_id: mn1@lab.pmipv6.example
    hnps: ["2001:db8:100::/64"]
    proxy_coa: "2001:db8:ffff::12"
    state: active
    lifetime: 600
    lifetime_remaining: 599.9
elapsed:
  description: Seconds from the first look to the last.
  returned: success and mismatch
  type: float
  sample: 1.52
expected:
  description: The checked fields and their expected values (C(state) is V(active) or V(absent)).
  returned: success and mismatch
  type: dict
  sample:
    state: active
    serving_mag: "2001:db8:ffff::12"
    hnp: "2001:db8:100::/64"
actual:
  description:
    - The same fields as RV(expected), read from RV(binding). C(hnp) is the list of the row's
      prefixes, C(state) V(absent) when there is no row.
    - On a MAG C(serving_mag) is this MAG's address when it serves the mobile node, else null.
  returned: success and mismatch
  type: dict
  sample:
    state: active
    serving_mag: "2001:db8:ffff::11"
    hnp: ["2001:db8:100::/64"]
revoked:
  description:
    - The LMA's rows of the bindings this task revoked (in check mode, would revoke).
    - Empty when there was nothing to revoke.
  returned: with O(state=absent) at an LMA, unless O(revoke=false)
  type: list
  elements: dict
  sample:
    - mn_id: mn2@lab.pmipv6.example
      hnps: ["2001:db8:100:2::/64"]
      proxy_coa: "2001:db8:ffff::11"
      state: active
mismatches:
  description: One entry per mismatching field.
  returned: mismatch
  type: list
  elements: dict
  sample:
    - field: serving_mag
      expected: "2001:db8:ffff::12"
      actual: "2001:db8:ffff::11"
role:
  description: The agent's role.
  returned: success and mismatch
  type: str
  sample: lma
socket:
  description: The control socket that was asked.
  returned: always
  type: str
  sample: /run/pmip6d/lma.sock
rc:
  description: On a socket error its errno, 1 for an agent's error answer.
  returned: when the agent could not be asked
  type: int
stdout:
  description: The agent's raw answer, when there was one.
  returned: when the agent could not be asked
  type: str
stderr:
  description: The error text.
  returned: when the agent could not be asked
  type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_binding import (  # noqa: E402
    AGENT_SOCKET_ARGS,
    BindingSource,
    Expectation,
    bound_rows,
    describe,
    evaluate,
    normalize_address,
    normalize_mac,
    normalize_prefix,
    wait_for,
)
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_control import ControlError  # noqa: E402


def _check_values(module, params):
    """Fail early, before any waiting, on values that cannot be right."""
    checks = (
        ("mac", normalize_mac),
        ("hnp", normalize_prefix),
        ("serving_mag", normalize_address),
        ("tunnel", normalize_address),
    )
    for name, check in checks:
        if params[name] is not None:
            try:
                check(params[name])
            except ValueError as exc:
                module.fail_json(msg=f"{name}: {exc}")
    if params["mn_id"] is not None and not params["mn_id"].strip():
        module.fail_json(msg="mn_id must not be empty")
    for name in ("timeout", "min_lifetime"):
        if params[name] is not None and params[name] < 0:
            module.fail_json(msg=f"{name} must not be negative")
    for name in ("interval", "socket_timeout"):
        if params[name] <= 0:
            module.fail_json(msg=f"{name} must be positive")


def _revoke(module, source, mn_id, mac):
    """State absent at an LMA: revoke what is bound. Returns the rows (None: not an LMA)."""
    source.status()
    if source.role != "lma":
        return None
    rows = bound_rows(source.bindings(mn_id=mn_id, mac=mac))
    if not rows or module.check_mode:
        return rows
    revoked = []
    for name in sorted({row["mn_id"] for row in rows}):
        revoked += source.revoke(name)
    return revoked


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **AGENT_SOCKET_ARGS,
            mn_id=dict(type="str"),
            mac=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"]),
            revoke=dict(type="bool", default=True),
            hnp=dict(type="str"),
            serving_mag=dict(type="str"),
            tunnel=dict(type="str"),
            min_lifetime=dict(type="float"),
            timeout=dict(type="float", default=0.0),
            interval=dict(type="float", default=0.5),
        ),
        required_one_of=[("role", "socket"), ("mn_id", "mac")],
        supports_check_mode=True,
    )
    params = module.params
    _check_values(module, params)
    mac = normalize_mac(params["mac"]) if params["mac"] is not None else None
    mn_id = params["mn_id"]
    who = " / ".join(x for x in (mn_id, mac) if x)

    source = BindingSource(params["role"], params["socket"], params["socket_timeout"])
    revoked = None
    if params["state"] == "absent" and params["revoke"]:
        try:
            revoked = _revoke(module, source, mn_id, mac)
        except ControlError as exc:
            module.fail_json(**exc.fail_kwargs())
        if revoked and module.check_mode:
            # The binding is still there, and is meant to be: report what would go.
            result = dict(
                changed=True,
                revoked=revoked,
                role=source.role,
                socket=source.path,
                msg=f"binding of {who} at LMA {source.path} would be revoked",
            )
            if module._diff:
                result["diff"] = {"before": {"bindings": revoked}, "after": {"bindings": []}}
            module.exit_json(**result)
    expectation = []  # built at the first successful look: a MAG's own address comes from the agent

    def poll():
        if not expectation:
            source.status()
            expectation.append(
                Expectation(
                    source.role,
                    state=params["state"],
                    hnp=params["hnp"],
                    serving_mag=params["serving_mag"],
                    tunnel=params["tunnel"],
                    min_lifetime=params["min_lifetime"],
                    own_address=source.own_address,
                )
            )
        rows = source.bindings(mn_id=mn_id, mac=mac)
        return evaluate(rows, expectation[0])

    try:
        verdict, error, elapsed = wait_for(poll, params["timeout"], params["interval"])
    except ValueError as exc:  # options that contradict what the agent reports
        module.fail_json(msg=str(exc), socket=source.path, role=source.role)
    except ControlError as exc:
        module.fail_json(**exc.fail_kwargs())

    if error is not None:
        result = error.fail_kwargs()
        if params["timeout"] > 0:
            result["msg"] = "after waiting {}s: {}".format(elapsed, result["msg"])
        module.fail_json(elapsed=elapsed, **result)

    where = f"{source.role.upper()} {source.path}"
    result = dict(
        changed=bool(revoked),
        binding=verdict.binding,
        elapsed=elapsed,
        expected=verdict.expected,
        actual=verdict.actual,
        role=source.role,
        socket=source.path,
    )
    if revoked is not None:
        result["revoked"] = revoked
        if revoked and module._diff:
            result["diff"] = {"before": {"bindings": revoked}, "after": {"bindings": []}}
    if not verdict.ok:
        result["mismatches"] = [
            {"field": name, "expected": want, "actual": have}
            for name, want, have in verdict.mismatches
        ]
        waited = elapsed if params["timeout"] > 0 else None
        module.fail_json(msg=describe(verdict, who, where, waited), **result)
    if revoked:
        result["msg"] = f"binding of {who} at {where} revoked"
    else:
        result["msg"] = f"binding of {who} at {where} is as expected"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
