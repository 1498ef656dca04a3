"""The collection builds with ansible-galaxy and works when installed from the artifact."""

from __future__ import annotations

import os
import subprocess
import tarfile

from pmipv6_test_helpers import BIN, ROOT


def run(*args, cwd, env=None):
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_build_install_and_use(tmp_path):
    built = run(
        BIN / "ansible-galaxy",
        "collection",
        "build",
        "--force",
        "--output-path",
        tmp_path,
        cwd=ROOT,
    )
    assert built.returncode == 0, built.stderr
    [artifact] = tmp_path.glob("netlmm-pmipv6-*.tar.gz")
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    assert "plugins/modules/pmip_binding.py" in names
    assert "roles/agent/meta/argument_specs.yml" in names
    assert (
        "files/pmip6d/pyproject.toml" in names and "files/pmip6d/src/pmip6d/lma/machine.py" in names
    )
    # The lab package too (playbooks/experiment.yml and attach.yml run it on the
    # controller), without its benchmarks.
    assert "files/pmip6d-lab/src/pmip6d_lab/emulated_ap.py" in names
    assert not [n for n in names if n.startswith("files/pmip6d-lab/bench")]
    assert not [
        n for n in names if n.startswith((".venv", ".ansible/", "artifacts/")) or "__pycache__" in n
    ]
    assert artifact.stat().st_size < 2_000_000

    collections = tmp_path / "collections"
    installed = run(
        BIN / "ansible-galaxy",
        "collection",
        "install",
        "--no-deps",
        "-p",
        collections,
        artifact,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    # Outside the checkout, so only the installed copy can be found.
    env = {
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_CONFIG": str(tmp_path / "none.cfg"),
    }
    doc = run(BIN / "ansible-doc", "netlmm.pmipv6.pmip_binding", cwd=tmp_path, env=env)
    assert doc.returncode == 0 and "serving_mag" in doc.stdout, doc.stderr
    roles = run(BIN / "ansible-doc", "-t", "role", "netlmm.pmipv6.mag", cwd=tmp_path, env=env)
    assert roles.returncode == 0 and "mag_shared_addresses" in roles.stdout, roles.stderr
    preflight = run(
        BIN / "ansible-playbook",
        "netlmm.pmipv6.preflight",
        "-i",
        ROOT / "inventories" / "emulated",
        cwd=tmp_path,
        env=env,
    )
    assert preflight.returncode == 0, preflight.stdout[-2000:] + preflight.stderr
    syntax = run(
        BIN / "ansible-playbook",
        "--syntax-check",
        "netlmm.pmipv6.deploy",
        "-i",
        ROOT / "inventories" / "emulated",
        cwd=tmp_path,
        env=env,
    )
    assert syntax.returncode == 0, syntax.stderr
