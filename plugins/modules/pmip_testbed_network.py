#!/usr/bin/python
# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pmip_testbed_network
short_description: Cable the emulated PMIPv6 testbed (namespaces, bridges, veths, addresses, routes)
version_added: 0.1.0
description:
  - Builds the network of the emulated testbed on a podman host. Named network namespaces
    (the switches and the radio medium) and the containers' namespaces are the O(nodes); the
    module creates the named namespaces it owns, bridges in them, veth pairs between nodes,
    and sets addresses, routes and sysctls inside the namespaces.
  - Runs on the podman host (the netlmm.pmipv6.testbed role runs it on C(localhost)), as
    root, from the host's own network namespace. It never touches the host's own interfaces
    or routes.
  - Idempotent. Everything is read back before anything changes, and nothing is removed that
    the description does not name (addresses and routes the agents add stay). Each veth is
    created in one step with both ends already in their namespaces, so a failed run never
    leaves an end in the host's namespace.
author:
  - netlmm.pmipv6 developers (!UNKNOWN)
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Reports the commands it would run. A named namespace still to be created reads as
        empty, so everything in it is reported.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: none
    details: The RV(commands) are the difference.
options:
  state:
    description:
      - V(present) creates and converges everything described.
      - V(absent) deletes the named namespaces the description owns (O(nodes[].create)), and
        with them everything in them. Containers' namespaces go with their containers.
    type: str
    choices: [present, absent]
    default: present
  nodes:
    description:
      - The network namespaces and what is in them.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The node's name, which link peers point at (an inventory host, a namespace name).
        type: str
        required: true
      netns:
        description:
          - C(pid:N) for the namespace of a process (a container's), or the name of a
            namespace under C(/run/netns) (C(ip netns)).
        type: str
        required: true
      create:
        description:
          - The named namespace belongs to the description; V(present) creates it, V(absent)
            deletes it.
        type: bool
        default: false
      bridges:
        description: Bridges in the namespace.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Bridge name.
            type: str
            required: true
          mcast_snooping:
            description: Multicast snooping; off, the bridge floods multicast like a hub.
            type: bool
            default: false
      links:
        description: Veth pairs from this node to another.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: This end's interface name.
            type: str
            required: true
          mac:
            description: This end's MAC address.
            type: str
          master:
            description: The bridge this end is a port of.
            type: str
          state:
            description: This end's administrative state.
            type: str
            choices: [up, down]
            default: up
          peer:
            description: The other end.
            type: dict
            required: true
            suboptions:
              node:
                description: The node (O(nodes[].name)) the other end is in.
                type: str
                required: true
              name:
                description: The other end's interface name.
                type: str
                required: true
              mac:
                description: The other end's MAC address.
                type: str
              master:
                description: The bridge the other end is a port of.
                type: str
              state:
                description: The other end's administrative state.
                type: str
                choices: [up, down]
                default: up
              runtime:
                description:
                  - The other end is moved at run time (a radio port that C(pmip6d-ap) plugs
                    into one AP bridge after another). Its master and state are set only when
                    the link is created, and its absence is no reason to recreate the link.
                type: bool
                default: false
      addresses:
        description: Addresses on the node's interfaces.
        type: list
        elements: dict
        default: []
        suboptions:
          dev:
            description: The interface.
            type: str
            required: true
          address:
            description: The address with its prefix length, for example C(2001:db8::1/64).
            type: str
            required: true
          nodad:
            description: Add IPv6 addresses without duplicate address detection.
            type: bool
            default: true
      routes:
        description: Routes in the node's main table.
        type: list
        elements: dict
        default: []
        suboptions:
          to:
            description: The destination prefix, or V(default).
            type: str
            required: true
          via:
            description: The gateway.
            type: str
            required: true
          dev:
            description: The outgoing interface.
            type: str
          family:
            description: The family of a V(default) route (a prefix names its own).
            type: str
            choices: [inet, inet6]
            default: inet6
      sysctls:
        description:
          - Sysctls in the namespace. Set before the links (so new interfaces inherit
            C(default) values) and again after them (per-interface keys).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The key, for example C(net.ipv6.conf.all.forwarding).
            type: str
            required: true
          value:
            description: The value; a boolean is written as C(1) or C(0).
            type: raw
            required: true
requirements:
  - ip (iproute2), nsenter and sysctl on the host
notes:
  - Needs root (C(CAP_SYS_ADMIN) and C(CAP_NET_ADMIN)).
seealso:
  - module: netlmm.pmipv6.pmip_access_link
"""

EXAMPLES = r"""
- name: A switch namespace with a bridge, cabled to a container
  netlmm.pmipv6.pmip_testbed_network:
    nodes:
      - name: pmipv6-sw
        netns: pmipv6-sw
        create: true
        bridges:
          - name: core
      - name: lma
        netns: "pid:{{ lma_pid }}"
        links:
          - name: core0
            peer: {node: pmipv6-sw, name: lma-core, master: core}
        addresses:
          - {dev: core0, address: "2001:db8:ffff::1/64"}
        sysctls:
          - {name: net.ipv6.conf.all.forwarding, value: 1}

- name: Remove the switch namespace
  netlmm.pmipv6.pmip_testbed_network:
    state: absent
    nodes:
      - {name: pmipv6-sw, netns: pmipv6-sw, create: true}
"""

RETURN = r"""
commands:
  description: The commands run (in check mode, that would be run), in order.
  returned: success
  type: list
  elements: str
  sample:
    - ip netns add pmipv6-sw
    - nsenter --net=/run/netns/pmipv6-sw -- ip link set lo up
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.netlmm.pmipv6.plugins.module_utils.pmip_testbed_network import (  # noqa: E402
    CablingError,
    Net,
    normalize,
)

_END = dict(
    node=dict(type="str", required=True),
    name=dict(type="str", required=True),
    mac=dict(type="str"),
    master=dict(type="str"),
    state=dict(type="str", choices=["up", "down"], default="up"),
    runtime=dict(type="bool", default=False),
)

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    nodes=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            name=dict(type="str", required=True),
            netns=dict(type="str", required=True),
            create=dict(type="bool", default=False),
            bridges=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    mcast_snooping=dict(type="bool", default=False),
                ),
            ),
            links=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    mac=dict(type="str"),
                    master=dict(type="str"),
                    state=dict(type="str", choices=["up", "down"], default="up"),
                    peer=dict(type="dict", required=True, options=_END),
                ),
            ),
            addresses=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    dev=dict(type="str", required=True),
                    address=dict(type="str", required=True),
                    nodad=dict(type="bool", default=True),
                ),
            ),
            routes=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    to=dict(type="str", required=True),
                    via=dict(type="str", required=True),
                    dev=dict(type="str"),
                    family=dict(type="str", choices=["inet", "inet6"], default="inet6"),
                ),
            ),
            sysctls=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    value=dict(type="raw", required=True),
                ),
            ),
        ),
    ),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

    def runner(argv):
        return module.run_command(argv)

    commands = []
    try:
        net = Net(normalize(module.params["nodes"]), module.check_mode, runner)
        commands = net.commands
        if module.params["state"] == "present":
            net.present()
        else:
            net.absent()
    except (CablingError, ValueError) as exc:
        module.fail_json(msg=str(exc), commands=commands)
    module.exit_json(changed=bool(net.commands), commands=net.commands)


if __name__ == "__main__":
    main()
