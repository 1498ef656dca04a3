"""The lab backends' pure parts: inventory → lab facts, the commands they run, the checks.

No podman, no namespace: ``ansible-inventory --list`` JSON is built here in the shape
ansible-inventory prints (group_vars merged into each host, templates left as text), the
commands are compared as argument lists, the live lab is built from a facts file, fake
container PIDs and an emulated APs' file. One test reads the repository's real emulated
inventory with ansible-inventory (the project's .venv has it).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml

from pmip6d_lab.experiment import layout, podmanlab
from pmip6d_lab.experiment.__main__ import main
from pmip6d_lab.experiment.captures import Capture
from pmip6d_lab.experiment.labs import Host, netns_argv, scenario_mismatch
from pmip6d_lab.experiment.podmanlab import InventoryError, lab_facts, resolve
from pmip6d_lab.experiment.settings import Settings
from pmip6d_lab.experiment.traffic import traffic_plan

REPO = Path(__file__).resolve().parents[4]

COMMON = {
    "ansible_connection": "containers.podman.podman",
    "ansible_python_interpreter": "/usr/bin/python3",
    "pmipv6_domain": "lab.pmipv6.example",
    "pmipv6_testbed_air_netns": "pmipv6-air",
    "pmipv6_testbed_work_dir": "/run/pmipv6-testbed",
    "pmipv6_testbed_aps_file": "{{ pmipv6_testbed_work_dir }}/aps.yml",
}


def inventory() -> dict:
    """What ``ansible-inventory -i inventories/emulated --list`` prints, trimmed."""
    hosts = {
        "lma": {
            "ansible_host": "pmipv6-lma",
            "pmipv6_address": "2001:db8:ffff::1",
            "pmipv6_core_interface": "core0",
        },
        "mag1": {
            "ansible_host": "pmipv6-mag1",
            "pmipv6_address": "2001:db8:ffff::11",
            "pmipv6_core_interface": "core0",
            "pmipv6_access_interfaces": ["acc0"],
            "pmipv6_syslog_address": "fd00:a1::1",
            "pmipv6_lma": "lma",
        },
        "mag2": {
            "ansible_host": "pmipv6-mag2",
            "pmipv6_address": "2001:db8:ffff::12",
            "pmipv6_core_interface": "core0",
            "pmipv6_access_interfaces": ["acc0"],
            "pmipv6_syslog_address": "fd00:a2::1",
            "pmipv6_lma": "lma",
        },
        "ap1": {
            "ansible_host": "pmipv6-ap1",
            "pmipv6_mag": "mag1",
            "pmipv6_ap_address": "fd00:a1::2",
            "pmipv6_ap_bssid": "0019.a9f0.0001",
            "pmipv6_ap_syslog_interface": "mgmt0",
        },
        "ap2": {
            "ansible_host": "pmipv6-ap2",
            "pmipv6_mag": "mag2",
            "pmipv6_ap_address": "fd00:a2::2",
            "pmipv6_ap_bssid": "0019.a9f0.0002",
            "pmipv6_ap_syslog_interface": "mgmt0",
        },
        "cn": {
            "ansible_host": "pmipv6-cn",
            "pmipv6_cn_address": "2001:db8:c::2",
            "pmipv6_testbed_addresses": [{"address": "{{ pmipv6_cn_address }}/64", "dev": "eth0"}],
        },
        "mn1": {"ansible_host": "pmipv6-mn1", "pmipv6_mn_mac": "02:00:00:00:01:01"},
    }
    return {
        "_meta": {"hostvars": {h: {**COMMON, **v} for h, v in hosts.items()}},
        "all": {
            "children": [
                "ungrouped",
                "pmipv6_lma",
                "pmipv6_mag",
                "pmipv6_ap",
                "pmipv6_mn",
                "pmipv6_cn",
            ]
        },
        "pmipv6_lma": {"hosts": ["lma"]},
        "pmipv6_mag": {"hosts": ["mag1", "mag2"]},
        "pmipv6_ap": {"hosts": ["ap1", "ap2"]},
        "pmipv6_mn": {"hosts": ["mn1"]},
        "pmipv6_cn": {"hosts": ["cn"]},
    }


EXPECTED = {
    "kind": "podman",
    "inventory": "inv",
    "domain": "lab.pmipv6.example",
    "lma": {
        "name": "lma",
        "container": "pmipv6-lma",
        "address": "2001:db8:ffff::1",
        "core_interface": "core0",
        "control_socket": "/run/pmip6d/lma.sock",
        "config_file": "/etc/pmip6d/lma.yml",
    },
    "mags": {
        f"mag{n}": {
            "container": f"pmipv6-mag{n}",
            "address": f"2001:db8:ffff::1{n}",
            "core_interface": "core0",
            "access_interface": "acc0",
            "access_address": f"fd00:a{n}::1",
            "control_socket": "/run/pmip6d/mag.sock",
            "config_file": "/etc/pmip6d/mag.yml",
            "syslog_interface": "mgmt0",
        }
        for n in (1, 2)
    },
    "aps": {
        f"ap{n}": {
            "container": f"pmipv6-ap{n}",
            "mag": f"mag{n}",
            "address": f"fd00:a{n}::2",
            "bssid": f"0019.a9f0.000{n}",
        }
        for n in (1, 2)
    },
    "cn": {"name": "cn", "container": "pmipv6-cn", "address": "2001:db8:c::2", "interface": "eth0"},
    "air_netns": "pmipv6-air",
    "aps_file": "/run/pmipv6-testbed/aps.yml",
    "mn_prefix": "x",
    "from_ap": "ap1",
    "to_ap": "ap2",
}


# --------------------------------------------------------------------------- inventory → facts


def test_facts_from_the_inventory():
    assert lab_facts(inventory(), "inv") == EXPECTED


def test_facts_from_the_real_emulated_inventory():
    inv = podmanlab.read_inventory(REPO / "inventories" / "emulated")
    facts = lab_facts(inv, "inv")
    # The repository's inventory sets the experiment's knobs explicitly (group_vars/all).
    assert facts == EXPECTED


def test_experiment_variables_choose_the_roam_and_the_names():
    inv = inventory()
    for host in inv["_meta"]["hostvars"].values():
        host["pmipv6_experiment_from_ap"] = "ap2"
        host["pmipv6_experiment_mn_prefix"] = "t"
    facts = lab_facts(inv)
    assert (facts["from_ap"], facts["to_ap"], facts["mn_prefix"]) == ("ap2", "ap1", "t")
    assert lab_facts(inventory(), from_ap="ap2", to_ap="ap1")["from_ap"] == "ap2"


def test_groups_with_children_and_more_hosts():
    inv = inventory()
    inv["pmipv6_mag"] = {"children": ["site_a", "site_b"]}
    inv["site_a"] = {"hosts": ["mag1"]}
    inv["site_b"] = {"hosts": ["mag2"]}
    assert list(lab_facts(inv)["mags"]) == ["mag1", "mag2"]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda inv: inv["_meta"]["hostvars"]["mag2"].update(ansible_connection="ssh"),
            "mag2: ansible_connection is 'ssh'",
        ),
        (
            lambda inv: inv["_meta"]["hostvars"]["lma"].pop("pmipv6_address"),
            "lma: pmipv6_address: missing",
        ),
        (
            lambda inv: inv["_meta"]["hostvars"]["ap2"].update(pmipv6_mag="mag1"),
            "no two APs on different MAGs",
        ),
        (
            lambda inv: inv["_meta"]["hostvars"]["ap2"].update(pmipv6_mag="mag9"),
            "ap2: pmipv6_mag: 'mag9' is not a host in pmipv6_mag",
        ),
        (lambda inv: inv.update(pmipv6_cn={"hosts": []}), "no host in pmipv6_cn"),
        (lambda inv: inv.update(pmipv6_mag={"hosts": ["mag1"]}), "needs two hosts in pmipv6_mag"),
        (
            lambda inv: inv["_meta"]["hostvars"]["lma"].update(
                pmipv6_testbed_aps_file="{{ work | default('/tmp') }}/aps.yml"
            ),
            "lma: pmipv6_testbed_aps_file: ",
        ),
        (
            lambda inv: inv["_meta"]["hostvars"]["lma"].update(
                pmipv6_testbed_aps_file="{{ nowhere }}/aps.yml"
            ),
            "lma: pmipv6_testbed_aps_file: nowhere is not defined",
        ),
    ],
)
def test_inventory_mistakes_name_host_and_variable(change, message):
    inv = inventory()
    change(inv)
    with pytest.raises(InventoryError) as err:
        lab_facts(inv)
    assert message in str(err.value)


def test_same_mag_roam_is_refused():
    with pytest.raises(InventoryError, match="the roam must change MAG"):
        inv = inventory()
        inv["pmipv6_ap"]["hosts"].append("ap3")
        inv["_meta"]["hostvars"]["ap3"] = {
            **COMMON,
            "ansible_host": "pmipv6-ap3",
            "pmipv6_mag": "mag1",
            "pmipv6_ap_address": "fd00:a1::3",
        }
        lab_facts(inv, from_ap="ap1", to_ap="ap3")


def test_resolve_plain_references():
    hostvars = {"a": "x", "b": "{{ a }}-y", "n": 3, "lst": [1]}
    assert resolve("{{ b }}/{{n}}", hostvars, "h") == "x-y/3"
    assert resolve("bss-{{ inventory_hostname }}", hostvars, "ap1") == "bss-ap1"
    assert resolve(["{{ a }}"], hostvars, "h") == ["{{ a }}"]  # only strings are templates
    assert resolve("plain", hostvars, "h") == "plain"
    with pytest.raises(InventoryError, match="lst is not a plain value"):
        resolve("{{ lst }}", hostvars, "h", "v")
    with pytest.raises(InventoryError, match="cannot evaluate"):
        resolve("{{ a | upper }}", hostvars, "h", "v")
    loop = {"a": "{{ b }}", "b": "{{ a }}"}
    with pytest.raises(InventoryError, match="cannot evaluate"):
        resolve("{{ a }}", loop, "h", "v")


def test_cn_interface():
    inv = inventory()
    assert lab_facts(inv)["cn"]["interface"] == "eth0"
    inv["_meta"]["hostvars"]["cn"]["pmipv6_testbed_addresses"][0]["dev"] = "ens3"
    assert lab_facts(inv)["cn"]["interface"] == "ens3"
    inv["_meta"]["hostvars"]["cn"]["pmipv6_cn_interface"] = "lan0"
    assert lab_facts(inv)["cn"]["interface"] == "lan0"


# --------------------------------------------------------------------------- mobile nodes


def test_station_names_macs_and_prefixes():
    assert podmanlab.station_name(1, 1) == "xs1r01"
    assert podmanlab.station_name(3, 10, "t") == "ts3r10"
    assert podmanlab.station_mac(2, 7) == "02:e0:00:02:00:07"
    assert podmanlab.station_mac(1, 300) == "02:e0:00:01:01:2c"
    assert podmanlab.station_hnp(1, 1) == "2001:db8:e1:1::/64"
    assert podmanlab.station_hnp(3, 10) == "2001:db8:e3:a::/64"
    assert podmanlab.station_netns("pmipv6-air", "xs1r01") == "pmipv6-air-xs1r01"
    assert podmanlab.station_port("xs1r01") == "xs1r01-radio"
    with pytest.raises(ValueError, match="longer than 15"):
        podmanlab.station_port("experiment-mn1")
    with pytest.raises(ValueError, match="/44 or shorter"):
        podmanlab.station_hnp(1, 1, "2001:db8:e0::/48")


def test_mobile_nodes_for_the_policy():
    nodes = podmanlab.mobile_nodes([1, 3], 2)
    assert nodes == [
        {"name": "xs1r01", "mac": "02:e0:00:01:00:01", "hnps": ["2001:db8:e1:1::/64"]},
        {"name": "xs1r02", "mac": "02:e0:00:01:00:02", "hnps": ["2001:db8:e1:2::/64"]},
        {"name": "xs3r01", "mac": "02:e0:00:03:00:01", "hnps": ["2001:db8:e3:1::/64"]},
        {"name": "xs3r02", "mac": "02:e0:00:03:00:02", "hnps": ["2001:db8:e3:2::/64"]},
    ]
    every = podmanlab.mobile_nodes([1, 2, 3], 10, hnp_base=None)
    assert len(every) == 30 and "hnps" not in every[0]
    assert len({n["mac"] for n in every}) == len({n["name"] for n in every}) == 30


def test_station_commands():
    assert podmanlab.station_commands(
        "pmipv6-air", "pmipv6-air-xs1r01", "xs1r01-radio", "02:e0:00:01:00:01"
    ) == [
        ["ip", "netns", "add", "pmipv6-air-xs1r01"],
        ["ip", "-n", "pmipv6-air-xs1r01", "link", "set", "lo", "up"],
        [
            *("ip", "link", "add", "name", "wlan0", "address", "02:e0:00:01:00:01"),
            *("netns", "pmipv6-air-xs1r01", "type", "veth", "peer", "name", "xs1r01-radio"),
            *("netns", "pmipv6-air"),
        ],
        ["ip", "-n", "pmipv6-air", "link", "set", "xs1r01-radio", "down"],
        ["ip", "-n", "pmipv6-air-xs1r01", "link", "set", "wlan0", "up"],
    ]
    assert podmanlab.remove_station_commands(
        "pmipv6-air-xs1r01", air_netns="pmipv6-air", port="xs1r01-radio"
    ) == [
        ["ip", "-n", "pmipv6-air-xs1r01", "link", "del", "wlan0"],
        ["ip", "netns", "del", "pmipv6-air-xs1r01"],
        ["ip", "-n", "pmipv6-air", "link", "del", "xs1r01-radio"],
    ]


def test_station_of_a_run():
    st = podmanlab.station(EXPECTED, 2, 5)
    assert (st.name, st.mac, st.mn_id) == (
        "xs2r05",
        "02:e0:00:02:00:05",
        "xs2r05@lab.pmipv6.example",
    )
    assert st.host == Host("xs2r05", "pmipv6-air-xs2r05")
    assert (st.port, st.interface, st.ap) == ("xs2r05-radio", "wlan0", None)


# --------------------------------------------------------------------------- commands


def test_commands_in_a_namespace():
    assert netns_argv("pid:4242", "ip", "-j", "link") == [
        *("nsenter", "--net=/proc/4242/ns/net", "--", "ip", "-j", "link"),
    ]
    assert netns_argv("pmipv6-air", "ss", "-Hltn") == [
        *("ip", "netns", "exec", "pmipv6-air", "ss", "-Hltn"),
    ]
    assert netns_argv(None, "true") == ["true"]
    cap = Capture("mag1", "acc0", "access", Host("mag1", "pid:17"), "mag1-acc0.pcap")
    assert cap.argv(Path("/out/run-01-both"), 256) == [
        *("nsenter", "--net=/proc/17/ns/net", "--", "dumpcap", "-q", "-P", "-s", "256"),
        *("-i", "acc0", "-w", "/out/run-01-both/mag1-acc0.pcap"),
    ]
    assert cap.row()["namespace"] == "pid:17"


def test_podman_inspect_and_control_sockets():
    assert podmanlab.podman_inspect_command(["pmipv6-lma", "pmipv6-cn"]) == [
        *("podman", "inspect", "--type", "container", "--format", "json"),
        *("pmipv6-lma", "pmipv6-cn"),
    ]
    assert podmanlab.containers(EXPECTED) == [
        *("pmipv6-lma", "pmipv6-mag1", "pmipv6-mag2", "pmipv6-ap1", "pmipv6-ap2", "pmipv6-cn"),
    ]
    assert podmanlab.control_socket_path(99, "/run/pmip6d/mag.sock") == Path(
        "/proc/99/root/run/pmip6d/mag.sock"
    )


def test_traffic_plan_both():
    s = Settings()
    udp, up, tcp = traffic_plan("both", s, "2001:db8:e2:1::5")
    assert (udp.kind, udp.port, up.kind, up.port) == ("udp", 5201, "udpup", 5202)
    assert (tcp.kind, tcp.port) == ("tcp", 5203)
    assert (udp.direction, up.direction, tcp.direction) == ("cn->mn", "mn->cn", "cn->mn")
    assert udp.server == ["iperf3", "-s", "-1", "--json", "-p", "5201"]
    assert udp.client == [
        *("iperf3", "-c", "2001:db8:e2:1::5", "-p", "5201", "--json", "-u", "-b", "1000000"),
        *("-l", "125", "-k", "2500"),
    ]
    # The MN → CN stream: the same, reversed (the server on the MN sends).
    assert up.client == [*udp.client[:4], "5202", *udp.client[5:], "-R"]
    assert up.client_output == "iperf3-udpup-client.json"
    assert tcp.client == [
        *("iperf3", "-c", "2001:db8:e2:1::5", "-p", "5203", "--json", "-t", "4"),
        *("--fq-rate", "20000000"),
    ]
    no_up = traffic_plan("both", Settings(udp_uplink=False), "2001:db8::1")
    assert [f.kind for f in no_up] == ["udp", "tcp"]
    assert (udp.after_s, tcp.after_s, udp.blocks, tcp.blocks) == (1.5, 3.0, 2500, None)
    assert (udp.client_output, tcp.server_output) == (
        "iperf3-udp-client.json",
        "iperf3-tcp-server.json",
    )
    assert udp.planned_end(100.0) == 102.5 and tcp.planned_end(100.0) == 104.0
    (only,) = traffic_plan("tcp", s, "2001:db8::1")
    assert (only.port, only.client_output) == (5201, layout.IPERF_CLIENT)


# --------------------------------------------------------------------------- checks


def test_scenario_mismatch():
    own = {
        "mag1": {
            "mac": "02:4d:41:47:01:01",
            "link_local": "fe80::4d:41ff:fe47:101",
            "tunnels": "static",
        },
        "mag2": {
            "mac": "02:4d:41:47:02:01",
            "link_local": "fe80::4d:41ff:fe47:201",
            "tunnels": "static",
        },
    }
    shared = {
        name: {"mac": "02:50:4d:49:50:36", "link_local": "fe80::1", "tunnels": "static"}
        for name in ("mag1", "mag2")
    }
    dynamic = {name: {**v, "tunnels": "dynamic"} for name, v in shared.items()}
    assert scenario_mismatch(1, "static", own) == []
    assert scenario_mismatch(2, "static", shared) == []
    assert scenario_mismatch(3, "dynamic", dynamic) == []
    assert "scenario 1 needs per-MAG addresses" in " ".join(scenario_mismatch(1, "static", shared))
    assert "scenario 2 needs one for all" in " ".join(scenario_mismatch(2, "static", own))
    problems = scenario_mismatch(3, "static", shared)
    assert problems[0] == "the LMA's tunnels are static, scenario 3 needs dynamic"
    assert "mag1's tunnels are static, not dynamic" in problems
    half = copy.deepcopy(own)
    half["mag2"]["link_local"] = half["mag1"]["link_local"]
    assert "link-local" in " ".join(scenario_mismatch(1, "static", half))


def aps_file(path: Path, pids: dict[str, int], air: str = "pmipv6-air") -> Path:
    doc = {
        "aps": {
            f"ap{n}": {
                "netns": air,
                "bridge": f"bss-ap{n}",
                "bssid": f"0019.a9f0.000{n}",
                "syslog_from": f"fd00:a{n}::2",
                "syslog_netns": f"pid:{pids[f'pmipv6-ap{n}']}",
                "syslog_to": f"fd00:a{n}::1",
            }
            for n in (1, 2)
        }
    }
    path.write_text(yaml.safe_dump(doc))
    return path


PIDS = {c: 1000 + i for i, c in enumerate(podmanlab.containers(EXPECTED))}


def test_the_live_lab_from_facts_pids_and_the_aps_file(tmp_path):
    facts = {**EXPECTED, "aps_file": str(aps_file(tmp_path / "aps.yml", PIDS))}
    lab = podmanlab.podman_lab(facts, PIDS)
    assert lab.kind == "podman" and lab.air_netns == "pmipv6-air"
    assert lab.lma.host == Host("lma", "pid:1000")
    assert lab.lma.control_socket == Path("/proc/1000/root/run/pmip6d/lma.sock")
    assert lab.mags["mag2"].host.argv("ip", "link") == [
        *("nsenter", "--net=/proc/1002/ns/net", "--", "ip", "link"),
    ]
    assert lab.mags["mag2"].control_socket == Path("/proc/1002/root/run/pmip6d/mag.sock")
    assert (lab.mags["mag1"].access_interface, lab.mags["mag1"].access_address) == (
        "acc0",
        "fd00:a1::1",
    )
    assert lab.cn.host == Host("cn", "pid:1005")
    assert (lab.aps["ap2"].bridge, lab.aps["ap2"].syslog_to) == ("bss-ap2", "fd00:a2::1")
    assert (lab.mag_of("ap2"), lab.ap_of("mag1")) == ("mag2", "ap1")
    assert lab.info["containers"]["ap1"] == {"container": "pmipv6-ap1", "pid": 1003}


def test_a_stale_aps_file_is_refused(tmp_path):
    stale = {**PIDS, "pmipv6-ap2": 7}
    facts = {**EXPECTED, "aps_file": str(aps_file(tmp_path / "aps.yml", stale))}
    with pytest.raises(InventoryError, match=r"ap2: syslog_netns pid:7 .* re-run"):
        podmanlab.podman_lab(facts, PIDS)
    with pytest.raises(InventoryError, match="the emulated APs' file"):
        podmanlab.podman_lab({**EXPECTED, "aps_file": str(tmp_path / "none.yml")}, PIDS)


# ------------------------------------------------------------------ the CLI, pure commands


def test_cli_mobile_nodes_and_plan(tmp_path, capsys):
    assert main(["mobile-nodes", "--scenarios", "2", "--runs", "1"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "xs2r01", "mac": "02:e0:00:02:00:01", "hnps": ["2001:db8:e2:1::/64"]}
    ]
    assert main(["mobile-nodes", "--scenarios", "1", "--runs", "1", "--hnp-base", "pool"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "xs1r01", "mac": "02:e0:00:01:00:01"}]
    out = tmp_path / "xp"
    rdir = layout.run_dir(out, 2, 1, "both")
    rdir.mkdir(parents=True)
    (rdir / layout.DONE).write_text("")
    layout.run_dir(out, 2, 2, "both").mkdir()  # interrupted: still to do
    assert main(["plan", str(out), "--runs", "3", "--tcp-after", "2"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan == {"pending": {"1": [1, 2, 3], "2": [2, 3], "3": [1, 2, 3]}, "total": 8}
    settings = json.loads((out / "settings.json").read_text())
    assert settings["kinds"] == ["both"] and settings["tcp_after_s"] == 2.0
    assert settings["lab"] == "podman" and settings["runs"] == 3


def test_cli_facts_and_errors(tmp_path, capsys):
    inv = REPO / "inventories" / "emulated"
    target = tmp_path / "lab.json"
    assert main(["facts", "--inventory", str(inv), "--out", str(target)]) == 0
    assert json.loads(target.read_text())["lma"]["container"] == "pmipv6-lma"
    assert main(["facts", "--inventory", str(inv), "--from-ap", "ap9"]) == 2
    assert "pmipv6_experiment_from_ap: 'ap9' is not an AP" in capsys.readouterr().err


def test_no_podman_lab_without_an_inventory_tool(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(InventoryError, match="ansible-inventory is not installed"):
        podmanlab.read_inventory("inv")
