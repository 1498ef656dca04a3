"""tc and lwt-BPF netlink messages of the ebpf backend, decoded by pyroute2 (independently)."""

from __future__ import annotations

import socket
import struct

from pyroute2.netlink.rtnl.tcmsg import tcmsg

from pmip6d.dataplane import rtnl, tc


def decoded(message: bytes) -> tcmsg:
    msg = tcmsg(message)
    msg.decode()
    return msg


def test_bpf_filter_on_the_clsact_ingress():
    msg = decoded(tc.bpf_filter_message(3, 5213, 7, "pmip6d-decap-p213"))
    assert msg["header"]["type"] == tc.RTM_NEWTFILTER
    assert msg["header"]["flags"] & rtnl.NLM_F_EXCL, "never replaces someone else's filter"
    assert (msg["index"], msg["handle"], msg["parent"]) == (3, 1, 0xFFFFFFF2)
    assert msg["info"] >> 16 == 5213, "priority"
    assert socket.ntohs(msg["info"] & 0xFFFF) == 0x86DD, "protocol ipv6"
    assert msg.get_attr("TCA_KIND") == "bpf"
    options = dict(msg.get_attr("TCA_OPTIONS")["attrs"])
    assert options == {"TCA_BPF_FD": 7, "TCA_BPF_NAME": "pmip6d-decap-p213", "TCA_BPF_FLAGS": 1}


def test_clsact_qdisc_and_filter_deletion():
    add = decoded(tc.clsact_message(tc.RTM_NEWQDISC, 4))
    assert (add["index"], add["handle"], add["parent"]) == (4, 0xFFFF0000, 0xFFFFFFF1)
    assert add.get_attr("TCA_KIND") == "clsact"
    delete = decoded(tc.filter_del_message(4, 5213))
    assert delete["header"]["type"] == tc.RTM_DELTFILTER
    assert (delete["parent"], delete["info"] >> 16) == (tc.INGRESS, 5213)


def test_a_dumped_filter_is_recognized_by_name_and_priority():
    reply = tcmsg()
    reply["family"] = socket.AF_UNSPEC
    reply["index"] = 4
    reply["handle"] = 1
    reply["parent"] = tc.INGRESS
    reply["info"] = tc.filter_info(5213)
    reply["attrs"] = [
        ("TCA_KIND", "bpf"),
        ("TCA_OPTIONS", {"attrs": [("TCA_BPF_NAME", "pmip6d-decap-p213+clsact")]}),
    ]
    reply.encode()
    info = tc.parse_filter(bytes(reply.data)[16:])
    assert (info.ifindex, info.priority, info.protocol, info.kind) == (4, 5213, 0x86DD, "bpf")
    assert info.name == "pmip6d-decap-p213+clsact"
    from pmip6d.dataplane import Ownership

    assert Ownership().is_our_filter(info)
    assert not Ownership(protocol=214).is_our_filter(info), "another agent's"


def test_lwt_bpf_encapsulation_attributes():
    encap = rtnl.bpf_xmit_encap(9, "pmip6d-encap-2001:db8::11", 40)
    assert encap.kind == rtnl.LWTUNNEL_ENCAP_BPF == 6
    attrs = rtnl.parse_attrs(encap.body)
    assert struct.unpack("=I", attrs[rtnl.LWT_BPF_XMIT_HEADROOM]) == (40,)
    program = rtnl.parse_attrs(attrs[rtnl.LWT_BPF_XMIT])
    assert struct.unpack("=I", program[rtnl.LWT_BPF_PROG_FD]) == (9,)
    assert program[rtnl.LWT_BPF_PROG_NAME] == b"pmip6d-encap-2001:db8::11\0"
