# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pmipv6_seccomp_allow_bpf, judged the way podman applies a profile's capability conditions."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.netlmm.pmipv6.plugins.filter.seccomp import (
    FilterModule,
    pmipv6_seccomp_allow_bpf,
)

# The shape of Debian 12's /usr/share/containers/seccomp.json around bpf(2).
PODMAN = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["bpf", "fanotify_init", "perf_event_open"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"caps": ["CAP_SYS_ADMIN"]},
        },
        {
            "names": ["bpf", "fanotify_init", "perf_event_open"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        },
    ],
}


def applies(rule: dict, caps: set[str]) -> bool:
    """containers/common: every included capability present, no excluded one."""
    included = rule.get("includes", {}).get("caps", [])
    excluded = rule.get("excludes", {}).get("caps", [])
    return all(c in caps for c in included) and not any(c in caps for c in excluded)


def verdicts(profile: dict, syscall: str, caps: set[str]) -> list[str]:
    return [
        rule["action"]
        for rule in profile["syscalls"]
        if syscall in rule["names"] and applies(rule, caps)
    ]


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        (set(), "SCMP_ACT_ERRNO"),
        ({"CAP_NET_ADMIN"}, "SCMP_ACT_ERRNO"),
        ({"CAP_BPF"}, "SCMP_ACT_ALLOW"),
        ({"CAP_SYS_ADMIN"}, "SCMP_ACT_ALLOW"),
        ({"CAP_SYS_ADMIN", "CAP_BPF"}, "SCMP_ACT_ALLOW"),
    ],
)
def test_bpf_is_allowed_with_cap_bpf_and_exactly_one_rule_decides(caps, expected):
    profile = pmipv6_seccomp_allow_bpf(PODMAN)
    assert verdicts(profile, "bpf", caps) == [expected], "one rule, or libseccomp refuses"


@pytest.mark.parametrize("caps", [set(), {"CAP_BPF"}, {"CAP_SYS_ADMIN"}])
def test_nothing_else_changes(caps):
    profile = pmipv6_seccomp_allow_bpf(PODMAN)
    for syscall in ("perf_event_open", "fanotify_init", "read"):
        assert verdicts(profile, syscall, caps) == verdicts(PODMAN, syscall, caps)
    assert profile["defaultAction"] == PODMAN["defaultAction"]
    assert PODMAN["syscalls"][1]["names"][0] == "bpf", "the input is not modified"


def test_idempotent():
    once = pmipv6_seccomp_allow_bpf(PODMAN)
    assert pmipv6_seccomp_allow_bpf(once) == once


def test_not_a_profile_is_refused():
    with pytest.raises(AnsibleFilterError, match="seccomp profile"):
        pmipv6_seccomp_allow_bpf({"defaultAction": "SCMP_ACT_ERRNO"})
    assert FilterModule().filters()["pmipv6_seccomp_allow_bpf"] is pmipv6_seccomp_allow_bpf
