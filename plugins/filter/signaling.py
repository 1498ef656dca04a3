# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``pmipv6_signaling_sas``: one host's ESP security associations for the MAG<->LMA signaling.

The derivation (HKDF-SHA256 from the domain secret, per pair and direction) is in
``plugin_utils/pmip_signaling.py``; this filter finds the host's peers in the
inventory and turns problems into a task failure that names the variable.
Documentation: ``pmipv6_signaling_sas.yml`` beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.netlmm.pmipv6.plugins.plugin_utils import pmip_signaling as signaling

MAG_GROUP = "pmipv6_mag"


def _epoch(value):
    # -e pmipv6_signaling_key_epoch=2 on the command line arrives as a string
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def mag_lma(hostvars, groups):
    """MAG -> the LMA it names (``pmipv6_lma``), for every MAG of the inventory."""
    out = {}
    for mag in (groups or {}).get(MAG_GROUP) or []:
        lma = hostvars[mag].get("pmipv6_lma")
        if lma:
            out[mag] = str(lma)
    return out


def pmipv6_signaling_sas(
    hostvars, groups, host, secret, epoch=1, algorithm=signaling.DEFAULT_ALGORITHM
):
    """The ``security_associations`` list of ``host``'s agent configuration."""
    try:
        return signaling.host_sas(
            secret, str(host), mag_lma(hostvars, groups), _epoch(epoch), algorithm
        )
    except signaling.SignalingKeyError as exc:
        raise AnsibleFilterError(f"pmipv6_signaling_sas: {exc}") from None


class FilterModule:
    """netlmm.pmipv6 filters: pmipv6_signaling_sas."""

    def filters(self):
        return {"pmipv6_signaling_sas": pmipv6_signaling_sas}
