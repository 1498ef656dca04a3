"""The agent's wheel (what the agent role ships to LMA and MAG hosts) carries the agent only.

Built the way roles/agent/tasks/present.yml builds it (``pip wheel --no-deps``, pip's
own build isolation), from a copy of what the wheel is built from, so that the
build leaves no ``build/`` or ``*.egg-info`` in the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[1]

# The lab's code (files/pmip6d-lab): test beds, emulated APs, experiment harness.
LAB_NAMES = {
    "experiment",
    "netlab",
    "nsdomain",
    "labdemo",
    "emulated_ap",
    "scapy_layers",
    "bench",
    "pmip6d_lab",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "pmip6d"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(AGENT / name, source / name)
    shutil.copytree(
        AGENT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), source],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = (tmp / "dist").glob("pmip6d-*-py3-none-any.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def _parts(name: str) -> set[str]:
    """The path's components, ``.py`` dropped: ``pmip6d/netlab.py`` → {pmip6d, netlab}."""
    return {p.removesuffix(".py") for p in name.split("/")}


def test_the_wheel_holds_the_agent(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    for module in ("pmip6d/cli.py", "pmip6d/lma/machine.py", "pmip6d/mag/machine.py"):
        assert module in names
    # Only the agent's package and its metadata.
    assert {n.split("/")[0] for n in names} == {"pmip6d", *_dist_info(wheel)}


def test_the_wheel_holds_no_lab_code(wheel: zipfile.ZipFile) -> None:
    lab = [n for n in wheel.namelist() if _parts(n) & LAB_NAMES]
    assert not lab, f"lab code in the agent's wheel: {lab}"
    importers = [
        n
        for n in wheel.namelist()
        if n.endswith(".py") and "pmip6d_lab" in wheel.read(n).decode("utf-8")
    ]
    assert not importers, f"agent modules that name the lab package: {importers}"


def test_the_wheel_installs_the_agents_commands_only(wheel: zipfile.ZipFile) -> None:
    [dist_info] = _dist_info(wheel)
    entry_points = ConfigParser()
    entry_points.read_string(wheel.read(f"{dist_info}/entry_points.txt").decode())
    assert dict(entry_points["console_scripts"]) == {
        "pmip6d": "pmip6d.cli:pmip6d_main",
        "pmipctl": "pmip6d.cli:pmipctl_main",
    }
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert "pmip6d-lab" not in metadata and "matplotlib" not in metadata


def _dist_info(wheel: zipfile.ZipFile) -> set[str]:
    return {n.split("/")[0] for n in wheel.namelist() if n.split("/")[0].endswith(".dist-info")}
