#!/usr/bin/python
# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pmip_binding_info
short_description: Read a PMIPv6 LMA's binding cache or a MAG's binding update list
version_added: 0.1.0
description:
  - Asks a running C(pmip6d) agent through its control socket for its bindings, its
    status and its counters, and returns them as structured data.
  - On a local mobility anchor (LMA) the rows are the binding cache; on a mobile access
    gateway (MAG) they are the binding update list.
  - Read-only. Never reports a change.
author:
  - netlmm.pmipv6 developers (!UNKNOWN)
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads, so it does the same in check mode.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: none
extends_documentation_fragment:
  - netlmm.pmipv6.agent_socket
options:
  mn_id:
    description:
      - Only the bindings of this mobile node identifier (NAI),
        for example C(mn1@lab.pmipv6.example).
      - The LMA filters by it itself; on a MAG the rows are filtered by the module.
    type: str
  mac:
    description:
      - Only the bindings of this MAC address (any of C(02:00:5e:00:53:01), C(02-00-5e-00-53-01),
        C(0200.5e00.5301)).
      - The MAG filters by it itself; on an LMA the module compares it with the row's
        C(mn_link_layer_id), which is null when the MAG sent no link-layer identifier.
    type: str
  limit:
    description:
      - At most this many rows (after filtering).
    type: int
seealso:
  - module: netlmm.pmipv6.pmip_binding
"""

EXAMPLES = r"""
- name: Read the LMA's binding cache
  netlmm.pmipv6.pmip_binding_info:
    role: lma
  become: true
  register: lma_bindings

- name: Show which MAG serves each mobile node
  ansible.builtin.debug:
    msg: "{{ lma_bindings.bindings | items2dict(key_name='mn_id', value_name='proxy_coa') }}"

- name: One mobile node at a MAG, by MAC
  netlmm.pmipv6.pmip_binding_info:
    role: mag
    mac: "02:00:00:00:01:01"
  become: true
  register: mn1_at_mag

- name: An agent with a non-default socket (role read from the agent)
  netlmm.pmipv6.pmip_binding_info:
    socket: /run/pmip6d/lab/lma.sock
    limit: 10
  become: true
"""

RETURN = r"""
role:
  description: The agent's role.
  returned: success
  type: str
  sample: lma
socket:
  description: The control socket that was asked.
  returned: always
  type: str
  sample: /run/pmip6d/lma.sock
bindings:
  description:
    - The rows, as the agent reports them.
    - "LMA rows: C(mn_id), C(hnps), C(proxy_coa), C(state) (active or deregistering),
      C(access_technology_type), C(mn_link_layer_id), C(handoff_indicator), C(mag_link_local),
      C(lifetime), C(lifetime_remaining), C(registered_for), C(handoffs), C(sequence),
      C(timestamp)."
    - "MAG rows: C(mn_id), C(mac), C(state) (registering, active or deregistering), C(exchange),
      C(hnps), C(lma), C(interface), C(handoff_indicator), C(lifetime), C(lifetime_remaining)
      (null unless active), C(sequence), C(attached_for)."
  returned: success
  type: list
  elements: dict
  sample:
    - mn_id: mn1@lab.pmipv6.example
      hnps: ["2001:db8:100::/64"]
      proxy_coa: "2001:db8:ffff::12"
      state: active
      lifetime: 600
      lifetime_remaining: 599.9
      handoffs: 1
status:
  description: The agent's status (role, own address, table sizes, data plane and trigger state).
  returned: success
  type: dict
  sample:
    role: lma
    address: "2001:db8:ffff::1"
    bindings: 1
    mobile_nodes: 1
    pending: 0
heartbeat:
  description:
    - The agent's RFC 5847 heartbeat (the same as C(status.heartbeat)); null if the agent
      has none.
    - "C(interval), C(missing_allowed), C(peer_down_grace) (LMA, null when off),
      C(restart_counter) (the LMA's own, null on a MAG) and C(peers): one entry per peer
      with C(address), C(state) (unknown until the first answer, up or down), C(missed)
      (requests unanswered in a row), C(restart_counter) (the peer's last seen, null
      when it sends none), C(last_response_ago) and C(down_for) in seconds (null when
      not applicable)."
  returned: success
  type: dict
  sample:
    interval: 60
    missing_allowed: 3
    peer_down_grace: null
    restart_counter: null
    peers:
      - address: "2001:db8:ffff::1"
        state: down
        missed: 4
        restart_counter: 7
        last_response_ago: 241.2
        down_for: 61.0
counters:
  description: The agent's counters (messages, rejects by status, data plane, triggers).
  returned: success
  type: dict
  sample:
    pbu_received: 12
    pba_sent: 12
rc:
  description: On a socket error its errno, 1 for an agent's error answer.
  returned: failure
  type: int
stdout:
  description: The agent's raw answer, when there was one.
  returned: failure
  type: str
stderr:
  description: The error text.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_binding import (  # noqa: E402
    AGENT_SOCKET_ARGS,
    BindingSource,
    normalize_mac,
)
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_control import ControlError  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **AGENT_SOCKET_ARGS,
            mn_id=dict(type="str"),
            mac=dict(type="str"),
            limit=dict(type="int"),
        ),
        required_one_of=[("role", "socket")],
        supports_check_mode=True,
    )
    params = module.params
    mac = None
    if params["mac"] is not None:
        try:
            mac = normalize_mac(params["mac"])
        except ValueError as exc:
            module.fail_json(msg=f"mac: {exc}")
    if params["mn_id"] is not None and not params["mn_id"].strip():
        module.fail_json(msg="mn_id must not be empty")
    if params["limit"] is not None and params["limit"] < 1:
        module.fail_json(msg=f"limit must be at least 1, not {params['limit']}")
    if params["socket_timeout"] <= 0:
        module.fail_json(msg="socket_timeout must be positive")

    source = BindingSource(params["role"], params["socket"], params["socket_timeout"])
    try:
        status = source.status()
        rows = source.bindings(mn_id=params["mn_id"], mac=mac, limit=params["limit"])
        counters = source.counters()
    except ControlError as exc:
        module.fail_json(**exc.fail_kwargs())

    module.exit_json(
        changed=False,
        role=source.role,
        socket=source.path,
        bindings=rows,
        status=status,
        heartbeat=status.get("heartbeat") if isinstance(status, dict) else None,
        counters=counters,
    )


if __name__ == "__main__":
    main()
