"""One exception root, one handler: any agent error ends the command with one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml
from conftest import POLICY

from pmip6d import cli, errors
from pmip6d.access.link import AccessLinkError
from pmip6d.config import ConfigError
from pmip6d.daemon.control import CommandError
from pmip6d.dataplane.ebpf_asm import AsmError
from pmip6d.dataplane.ebpf_sys import BpfError
from pmip6d.dataplane.kernel import DataplaneError
from pmip6d.dataplane.probe import UnsupportedKernel
from pmip6d.dataplane.rtnl import NetlinkError
from pmip6d.errors import PmipError
from pmip6d.lma.machine import Reject
from pmip6d.wire.codec import EncodeError


@pytest.mark.parametrize(
    ("cls", "also", "status"),
    [
        (ConfigError, Exception, 2),
        (CommandError, Exception, 1),
        (DataplaneError, Exception, 1),
        (UnsupportedKernel, DataplaneError, 78),
        (NetlinkError, OSError, 1),
        (BpfError, OSError, 1),
        (AsmError, ValueError, 1),
        (EncodeError, ValueError, 1),
    ],
)
def test_every_agent_error_has_the_root_and_keeps_its_base(cls, also, status):
    assert issubclass(cls, PmipError) and issubclass(cls, also)
    assert cls.exit_status == status


def test_the_vendored_access_link_error_is_an_oserror():
    # access/link.py is copied byte for byte into the collection's module_utils and
    # may import nothing of the agent, so its error is an OSError (errno-less) and
    # ends the command through the same handler as the kernel's.
    assert issubclass(AccessLinkError, OSError) and not issubclass(AccessLinkError, PmipError)
    assert errors.exit_status(AccessLinkError("acc0: gone")) == errors.EXIT_FAILURE


def test_reject_is_control_flow_not_an_agent_error():
    # An escaped Reject is a bug: the command line must show its traceback.
    assert not issubclass(Reject, PmipError)


def test_kernel_errors_keep_errno_and_text():
    exc = NetlinkError(19, "no device", "link set")
    assert exc.errno == 19 and str(exc) == "[Errno 19] link set: No such device (no device)"
    assert errors.exit_status(exc) == errors.EXIT_FAILURE
    assert errors.exit_status(OSError(5, "I/O error")) == errors.EXIT_FAILURE
    assert errors.exit_status(UnsupportedKernel("x")) == cli.EXIT_KERNEL == 78
    assert errors.exit_status(ConfigError("x")) == cli.EXIT_CONFIG == 2


@pytest.fixture
def domain(tmp_path):
    (tmp_path / "policy.yml").write_text(yaml.safe_dump(POLICY))
    config = {"name": "mag1", "policy": "policy.yml", "control_socket": str(tmp_path / "m.sock")}
    (tmp_path / "mag.yml").write_text(yaml.safe_dump(config))
    return tmp_path


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (AccessLinkError("acc0: no such interface"), 1),
        (NetlinkError(1, "", "route add"), 1),
        (UnsupportedKernel("tunnel backend 'seg6' cannot run on this kernel: no seg6"), 78),
        (ConfigError("mag.yml: access: wrong"), 2),
        (PermissionError(13, "Permission denied"), 1),
    ],
)
def test_an_error_while_loading_is_one_line_and_its_status(
    domain, monkeypatch, capsys, exc, status
):
    def build(role, path):
        raise exc

    monkeypatch.setattr("pmip6d.daemon.agents.build", build)
    assert cli.pmip6d_main(["mag", "-c", str(domain / "mag.yml"), "--check"]) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"pmip6d: {exc}\n"


def test_check_policy_error_is_one_line(tmp_path, capsys):
    (tmp_path / "policy.yml").write_text("lmas: []\n")
    assert cli.pmip6d_main(["check-policy", str(tmp_path / "policy.yml")]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pmip6d: {tmp_path}/policy.yml: lmas: ")


def test_pmipctl_ends_a_broken_pipe_with_one_line(monkeypatch, capsys, tmp_path):
    class Client:
        def __init__(self, path):
            pass

        def connect(self):
            pass

        def call(self, cmd, **args):
            return {"role": "mag"}

        def close(self):
            pass

    def broken(data, args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "ControlClient", Client)
    monkeypatch.setattr(cli, "_print", broken)
    assert cli.pmipctl_main(["-s", str(tmp_path / "x.sock"), "status"]) == 1
    assert capsys.readouterr().err == "pmipctl: [Errno 32] Broken pipe\n"


RUN_RAISING = """
import sys
import pmip6d.daemon.agents as agents
from pmip6d.cli import pmip6d_main
from {module} import {name}

def run(agent):
    raise {name}({args})

agents.run = run
sys.exit(pmip6d_main(["mag", "-c", {config!r}]))
"""


@pytest.mark.parametrize(
    ("module", "name", "args", "status", "line"),
    [
        ("pmip6d.access.link", "AccessLinkError", "'acc0: no such interface'", 1,
         "ERROR cannot run: acc0: no such interface"),
        ("pmip6d.dataplane.probe", "UnsupportedKernel", "'no tunnel backend works'", 78,
         "ERROR no tunnel backend works"),
        ("pmip6d.config", "ConfigError", "'mag.yml: access.interfaces[0]: gone'", 2,
         "ERROR mag.yml: access.interfaces[0]: gone"),
        ("pmip6d.dataplane.rtnl", "NetlinkError", "17, '', 'nexthop add'", 1,
         "ERROR cannot run: [Errno 17] nexthop add: File exists"),
    ],
)  # fmt: skip
def test_an_error_while_running_is_one_log_line_and_its_status(
    domain, module, name, args, status, line
):
    """Running, stderr is the journal: the error is one log record, no traceback."""
    script = RUN_RAISING.format(module=module, name=name, args=args, config=str(domain / "mag.yml"))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    [logged] = done.stderr.splitlines()
    assert logged.endswith(f"pmip6d {line}"), logged
