# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # How a module reaches a running pmip6d agent: its control socket.
    # The matching argument spec is AGENT_SOCKET_ARGS in module_utils/pmip_binding.py.
    DOCUMENTATION = r"""
options:
  role:
    description:
      - Which agent to ask. Selects its default control socket,
        V(lma) C(/run/pmip6d/lma.sock) or V(mag) C(/run/pmip6d/mag.sock).
      - With O(socket) too, the agent must be of this role (its status says which it is).
      - One of O(role) and O(socket) is required.
    type: str
    choices: [lma, mag]
  socket:
    description:
      - Path of the agent's control socket, instead of the role's default.
      - Without O(role), the role is taken from the agent's status.
    type: path
  socket_timeout:
    description:
      - Seconds to wait for the agent to accept the connection and answer each request.
    type: float
    default: 5
notes:
  - The control sockets have mode 0660 and belong to the agent, so the task usually needs
    O(ignore:become=true).
"""
