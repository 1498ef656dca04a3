# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The vendored agent modules in plugins/module_utils are byte-identical to the agent's.

The list is the one scripts/sync-module-utils.sh copies, read from the script so the
two cannot disagree; a copy that differs means someone edited the copy, or the
agent's file without running the script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).absolute().parents[3]
SCRIPT = ROOT / "scripts" / "sync-module-utils.sh"


def vendored_pairs() -> list[tuple[str, str]]:
    text = SCRIPT.read_text()
    block = re.search(r"^VENDORED=\(\n(.*?)^\)", text, re.S | re.M)
    assert block, f"{SCRIPT}: no VENDORED=( ... ) list"
    pairs = re.findall(r'^\s*"(\S+) (\S+)"\s*$', block.group(1), re.M)
    assert pairs, f"{SCRIPT}: the VENDORED list is empty"
    return pairs


PAIRS = vendored_pairs()


def test_the_list_names_the_shared_modules():
    copies = {copy for _source, copy in PAIRS}
    assert {
        "plugins/module_utils/pmip_access_link.py",
        "plugins/module_utils/pmip_control.py",
    } <= copies


@pytest.mark.parametrize(("source", "copy"), PAIRS, ids=[c for _s, c in PAIRS])
def test_copy_is_identical_to_the_agent_module(source: str, copy: str):
    assert (ROOT / source).read_bytes() == (ROOT / copy).read_bytes(), (
        f"{copy} differs from {source}: edit {source}, then run bash scripts/sync-module-utils.sh"
    )
