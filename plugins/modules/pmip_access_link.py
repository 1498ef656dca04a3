#!/usr/bin/python
# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pmip_access_link
short_description: Give a PMIPv6 MAG access interface the domain's shared MAC and link-local address
version_added: 0.1.0
description:
  - RFC 5213 section 6.8. Every MAG of a PMIPv6 domain uses the same link-local address,
    and here also the same MAC, on its access links. A mobile node then keeps its default
    router when it moves from one MAG to another.
  - This module makes one interface look like that, through netlink (pyroute2). It sets the
    interface's C(addr_gen_mode) to C(none) so the kernel adds no EUI-64 link-local address
    of its own (now, or later when the MAC changes or the link comes back up). It sets the
    MAC, adds the link-local address (permanent, without duplicate address detection), and
    removes every other C(fe80::/10) address.
  - With O(shared=false) (the paper's scenario 1, per-MAG addresses) it leaves the interface
    alone and reports what is there.
  - Idempotent. It reports a change only when it made (or, in check mode, would make) one.
    After applying, it reads the interface again and fails if anything still differs.
author:
  - netlmm.pmipv6 developers (!UNKNOWN)
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reads the interface and reports the changes it would make, without making them.
      - If the driver can change the MAC only with the link down, the kernel also flushes the
        link's IPv6 addresses; the module then re-adds the link-local address, which check mode
        cannot foresee.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: full
    details: Before and after of the MAC, the C(addr_gen_mode) and the link-local addresses.
options:
  interface:
    description:
      - The access interface, for example C(acc0).
    type: str
    required: true
  mac:
    description:
      - The MAC address all MAGs share on their access links (C(pmipv6_shared_mac)).
      - When omitted, the interface keeps its own MAC.
    type: str
  link_local:
    description:
      - The link-local address all MAGs share (C(pmipv6_shared_link_local)).
    type: str
    default: fe80::1
  prefixlen:
    description:
      - Prefix length of the link-local address.
    type: int
    default: 64
  state:
    description:
      - V(present) gives the interface the shared addresses.
      - The interface is not removed or restored by this module, so there is no V(absent).
    type: str
    choices: [present]
    default: present
  shared:
    description:
      - V(false) leaves the interface alone (scenario 1, each MAG keeps its own addresses) and
        only reports its MAC, C(addr_gen_mode) and link-local addresses.
    type: bool
    default: true
  addr_gen_mode:
    description:
      - V(none) sets the interface's IPv6 C(addr_gen_mode) to C(none), so the kernel never adds
        an EUI-64 (or other) link-local address of its own.
      - V(keep) leaves C(addr_gen_mode) as it is. The kernel may then add its own link-local
        address when the link comes up or the MAC changes, which the next run removes
        again if O(remove_other_link_local=true).
    type: str
    choices: [none, keep]
    default: none
  remove_other_link_local:
    description:
      - Remove every C(fe80::/10) address other than O(link_local). The MAG's router
        advertisements must come from the shared address only.
    type: bool
    default: true
  netns:
    description:
      - Work in this network namespace (a name under C(/run/netns), as C(ip netns) makes)
        instead of the module's own.
    type: str
requirements:
  - pyroute2 (0.7 as in Debian 12's C(python3-pyroute2), or later)
notes:
  - Needs C(CAP_NET_ADMIN), so usually O(ignore:become=true).
  - An administrative C(ip link set down) flushes the interface's IPv6 addresses (unless
    C(keep_addr_on_down) is set). Run the module again after one; a loss of carrier does not
    flush them.
  - The pmip6d MAG agent owns the shared identity and applies it, with the same code, at every
    start. The C(netlmm.pmipv6.mag) role therefore runs this module in check mode to report
    drift (and restarts the agent if there is any); use it without check mode to set an
    interface up without an agent, or for per-MAG addresses (scenario 1), which the agent
    leaves alone.
seealso:
  - module: netlmm.pmipv6.pmip_binding
"""

EXAMPLES = r"""
- name: Shared MAG identity on the access interfaces (scenarios 2 and 3)
  netlmm.pmipv6.pmip_access_link:
    interface: "{{ item }}"
    mac: "{{ pmipv6_shared_mac }}"
    link_local: "{{ pmipv6_shared_link_local }}"
    shared: "{{ pmipv6_shared_addresses }}"
  loop: "{{ pmipv6_access_interfaces }}"
  become: true

- name: Scenario 1, only report what the interface has
  netlmm.pmipv6.pmip_access_link:
    interface: acc0
    shared: false
  register: acc0

- name: Inside a network namespace of a test bed
  netlmm.pmipv6.pmip_access_link:
    interface: acc0
    mac: "02:50:4d:49:50:36"
    netns: mag1
  become: true
"""

RETURN = r"""
interface:
  description: The interface.
  returned: always
  type: str
  sample: acc0
mac:
  description: The interface's MAC (in check mode, the one it would have).
  returned: success
  type: str
  sample: "02:50:4d:49:50:36"
addr_gen_mode:
  description:
    - The interface's IPv6 C(addr_gen_mode), one of C(eui64), C(none), C(stable_privacy),
      C(random).
  returned: success
  type: str
  sample: none
link_local:
  description: The interface's link-local addresses with prefix length.
  returned: success
  type: list
  elements: str
  sample: ["fe80::1/64"]
changes:
  description: The changes made (in check mode, that would be made), in order.
  returned: success
  type: list
  elements: str
  sample:
    - set addr_gen_mode eui64 -> none
    - set mac 9a:1c:0b:6e:43:10 -> 02:50:4d:49:50:36
    - add address fe80::1/64 (nodad)
    - remove address fe80::981c:bff:fe6e:4310/64
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_access_link import (  # noqa: E402
    HAS_PYROUTE2,
    PYROUTE2_IMPORT_ERROR,
    AccessLinkError,
    Desired,
    Netlink,
    apply,
    plan,
    predict,
    view,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            interface=dict(type="str", required=True),
            mac=dict(type="str"),
            link_local=dict(type="str", default="fe80::1"),
            prefixlen=dict(type="int", default=64),
            state=dict(type="str", choices=["present"], default="present"),
            shared=dict(type="bool", default=True),
            addr_gen_mode=dict(type="str", choices=["none", "keep"], default="none"),
            remove_other_link_local=dict(type="bool", default=True),
            netns=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib("pyroute2"), exception=PYROUTE2_IMPORT_ERROR)
    try:
        desired = Desired(
            params["interface"],
            mac=params["mac"],
            link_local=params["link_local"],
            prefixlen=params["prefixlen"],
            shared=params["shared"],
            addr_gen_mode=params["addr_gen_mode"],
            remove_other_link_local=params["remove_other_link_local"],
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc), interface=params["interface"])

    try:
        with Netlink(netns=params["netns"]) as netlink:
            if module.check_mode or not desired.shared:
                state = netlink.read(desired.interface)
                changes = plan(state, desired)
                before, after = view(state), predict(state, changes)
            else:
                before_state, changes, after_state = apply(netlink, desired)
                before, after = view(before_state), view(after_state)
    except AccessLinkError as exc:
        module.fail_json(msg=str(exc), interface=desired.interface)

    result = dict(
        changed=bool(changes),
        interface=desired.interface,
        mac=after["mac"],
        addr_gen_mode=after["addr_gen_mode"],
        link_local=after["link_local"],
        changes=[str(c) for c in changes],
    )
    if module._diff:
        result["diff"] = dict(
            before=before,
            after=after,
            before_header=f"{desired.interface} (before)",
            after_header=f"{desired.interface} (after)",
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
