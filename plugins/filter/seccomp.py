# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``pmipv6_seccomp_allow_bpf``: a container seccomp profile that lets CAP_BPF call bpf(2).

Why: the agents' ebpf tunnel backend loads its programs with ``bpf(2)``, which
needs CAP_BPF (with CAP_NET_ADMIN). The seccomp profile podman ships (Debian
12's containers-common) allows ``bpf`` only to containers with CAP_SYS_ADMIN,
so granting CAP_BPF alone is not enough. Rather than CAP_SYS_ADMIN or no
seccomp at all, the emulated LMA and MAG containers get podman's own profile
with exactly one change: ``bpf`` is allowed with CAP_BPF too. Documentation:
``pmipv6_seccomp_allow_bpf.yml`` beside this file.
"""

from __future__ import annotations

import copy

from ansible.errors import AnsibleFilterError

_ADMIN = "CAP_SYS_ADMIN"
_BPF = "CAP_BPF"


def pmipv6_seccomp_allow_bpf(profile):
    """The OCI seccomp ``profile`` with bpf(2) allowed under CAP_BPF as under CAP_SYS_ADMIN."""
    if not isinstance(profile, dict) or not isinstance(profile.get("syscalls"), list):
        raise AnsibleFilterError(
            "pmipv6_seccomp_allow_bpf: expected an OCI seccomp profile (a mapping with 'syscalls')"
        )
    out = copy.deepcopy(profile)
    rules = []
    for rule in out["syscalls"]:
        names = rule.get("names") or []
        if "bpf" in names:
            # bpf gets rules of its own below; the rest of this rule stays as it was
            rule = dict(rule, names=[n for n in names if n != "bpf"])
            if not rule["names"]:
                continue
        rules.append(rule)
    denied = {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
    rules += [
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [_BPF]}},
        {
            "names": ["bpf"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"caps": [_ADMIN]},
            "excludes": {"caps": [_BPF]},
        },
        dict(denied, excludes={"caps": [_ADMIN, _BPF]}),
    ]
    out["syscalls"] = rules
    return out


class FilterModule:
    def filters(self):
        return {"pmipv6_seccomp_allow_bpf": pmipv6_seccomp_allow_bpf}
