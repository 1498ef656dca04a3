"""Shared helpers of the collection's playbook-level tests (run with the repo's .venv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def playbook(*args: str, timeout: float = 1800, env: dict | None = None, cwd: Path = ROOT):
    """Run ansible-playbook; returns (rc, output, seconds)."""
    start = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", **(env or {})},
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - start


def recap(output: str) -> dict[str, dict[str, int]]:
    """host → {ok, changed, failed, ...} from the PLAY RECAP."""
    out = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        match = re.match(r"^(\S+)\s*:\s*(.*)$", line)
        if match and "=" in match.group(2):
            out[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return out


def podman_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for rootful podman"
    if shutil.which("podman") is None:
        return "podman is not installed"
    return None
