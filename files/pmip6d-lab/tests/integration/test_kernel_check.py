"""``pmip6d doctor``, ``pmip6d lma|mag --check`` and the agent on a kernel that lacks a backend.

Run in a fresh namespace each, through the real command lines. What the kernel
offers is probed, never assumed: every backend is tried, and each must either
work (exit 0) or fail with exit status 78 and one line naming what is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import kernel_report

from pmip6d.control_client import call
from pmip6d.dataplane import Channel, Kernel, Ownership, probe
from pmip6d_lab.netlab import NetLab, wait_for

pytestmark = pytest.mark.netns

LMAA = "2001:db8:ffff::1"
POLICY = {
    "domain": "lab.pmipv6.example",
    "mags": [{"name": "mag1", "address": "2001:db8:ffff::11"}],
    "lmas": [{"name": "lma", "address": LMAA, "accept_mags": ["mag1"]}],
    "mobile_nodes": [],
}


@pytest.fixture
def ns(tmp_path, netns_ok):
    lab = NetLab(tmp_path, prefix=f"kc{id(tmp_path) % 1000}-")
    try:
        host = lab.ns("lma")
        bridge = lab.ns("sw")
        lab.veth(host, "core0", bridge, "p-lma")
        host.addr("core0", f"{LMAA}/64")
        yield host
    finally:
        lab.close()


def run(ns, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns.name, sys.executable, "-m", "pmip6d", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lma_config(tmp_path: Path, backend: str) -> Path:
    (tmp_path / "policy.yml").write_text(yaml.safe_dump(POLICY))
    path = tmp_path / f"lma-{backend}.yml"
    config = {
        "name": "lma",
        "policy": "policy.yml",
        "control_socket": str(tmp_path / "lma.sock"),
        "prefix_pool": {"prefix": "2001:db8:100::/48", "length": 64},
        "dataplane": {"core_interface": "core0", "backend": backend},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def answers(socket: Path) -> bool:
    try:
        return call(socket, "ping") == "pong"
    except OSError:  # not listening yet
        return False


def nothing_left(ns) -> bool:
    with Channel(ns.name) as channel:
        return not any(Kernel(channel, Ownership()).owned().values())


def test_doctor_says_what_the_kernel_offers(ns):
    expected = kernel_report()
    done = run(ns, "doctor", "--interface", "core0")
    assert done.returncode == (0 if expected.usable else 78), done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("probed on core0")
    for offer in expected.offers:
        state = "available" if offer.ok else "unavailable (missing "
        assert any(line.startswith(f"backend {offer.backend}: {state}") for line in lines), lines
    assert f"backend auto: {expected.usable[0]}" in lines
    as_json = json.loads(run(ns, "doctor", "--json").stdout)
    assert as_json["auto"] == expected.usable[0]
    assert {b for b, o in as_json["backends"].items() if o["available"]} == set(expected.usable)
    assert set(as_json["features"]) == set(probe.FEATURES)
    assert nothing_left(ns), "the probes left something in the kernel"


@pytest.mark.parametrize("choice", [*probe.ORDER, "auto"])
def test_check_judges_the_configured_backend_against_the_kernel(ns, tmp_path, choice):
    offered = kernel_report().usable
    done = run(ns, "lma", "--check", "-c", str(lma_config(tmp_path, choice)))
    assert "kernel (probed on core0):" in done.stdout
    assert f"backend auto: {offered[0]}" in done.stdout
    if choice == "auto" or choice in offered:
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
    else:
        assert done.returncode == 78, done.stdout + done.stderr
        [line] = done.stderr.splitlines()
        missing = next(o for o in kernel_report().offers if o.backend == choice).missing
        assert line.startswith(f"pmip6d: {tmp_path}/lma-{choice}.yml: dataplane.backend: ")
        assert probe.FEATURES[missing[0]] in line, line
    assert nothing_left(ns)


@pytest.mark.parametrize("choice", probe.ORDER)
def test_the_agent_runs_a_backend_the_kernel_offers_and_refuses_the_others(ns, tmp_path, choice):
    """Refused: exit status 78 (the unit's RestartPreventExitStatus) and one error line.
    Either way nothing of ours is left in the kernel afterwards."""
    if choice in kernel_report().usable:
        # This kernel has it: the agent starts and runs until told to stop.
        config = lma_config(tmp_path, choice)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, sys.executable, "-m", "pmip6d", "lma", "-c",
             str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: answers(tmp_path / "lma.sock") or proc.poll() is not None,
                     timeout=60, what="the agent's control socket")  # fmt: skip
            assert proc.poll() is None, proc.stderr.read()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        assert proc.returncode == 0, proc.stderr.read()
    else:
        done = run(ns, "lma", "-c", str(lma_config(tmp_path, choice)))
        assert done.returncode == 78, done.stderr
        errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
        assert len(errors) == 1, done.stderr
        assert f"ERROR tunnel backend {choice!r} cannot run on this kernel: no " in errors[0]
    assert nothing_left(ns)
