"""Signaling loss on real links: nftables drops a share of Mobility Header packets.

The kernels here have no netem, so loss is made with nftables in a namespace:
``meta l4proto 135`` (the Mobility Header, also behind extension headers) and
``numgen random mod 100 < N``, a fresh draw per packet, on the input and/or
output hook. Installed in the LMA's namespace, input drops what the MAGs send
and output what the LMA answers: loss both ways between every MAG and the LMA.
Only Mobility Header is touched; neighbour discovery and everything else pass.
A packet dropped on output fails its ``sendmsg`` with ``EPERM`` (the agents count
``send_error`` and log it); one dropped on input is simply never read.

Each chain counts what it drops (``dropped()``), so a test can tell that the
loss really happened. ``remove()`` deletes the table and nothing else.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

MH_PROTOCOL = 135
TABLE = "pmip6d_loss"


def ruleset(input_percent: int, output_percent: int, table: str = TABLE) -> str:
    """The ``nft -f`` text: one ip6 table, a chain per hook with a share to drop.

    A hook whose share is 0 gets no chain at all, so it costs nothing.
    """
    lines = [f"table ip6 {table} {{"]
    for hook, percent in (("input", input_percent), ("output", output_percent)):
        if not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"{hook} loss must be a whole percentage 0..100, not {percent!r}")
        if percent == 0:
            continue
        # numgen yields 0..99 per packet; "< percent" drops that share of them.
        lines += [
            f"\tchain {hook} {{",
            f"\t\ttype filter hook {hook} priority filter; policy accept;",
            f"\t\tmeta l4proto {MH_PROTOCOL} numgen random mod 100 < {percent} counter drop",
            "\t}",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nft(netns: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)} in {netns} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class MobilityHeaderLoss:
    """Drop ``input_percent`` of incoming and ``output_percent`` of outgoing MH in ``netns``.

    Use as a context manager, or call :meth:`install` and :meth:`remove`.
    """

    netns: str
    input_percent: int
    output_percent: int
    table: str = TABLE

    def install(self) -> None:
        text = ruleset(self.input_percent, self.output_percent, self.table)
        self.remove()  # a table left behind by an earlier run must not add to the loss
        _nft(self.netns, "-f", "-", stdin=text)

    def remove(self) -> None:
        listed = _nft(self.netns, "list", "tables")
        if f"table ip6 {self.table}" in listed.splitlines():
            _nft(self.netns, "delete", "table", "ip6", self.table)

    def dropped(self) -> dict[str, int]:
        """Packets dropped so far, by hook (``input``, ``output``)."""
        doc = json.loads(_nft(self.netns, "-j", "list", "table", "ip6", self.table))
        out: dict[str, int] = {}
        for item in doc.get("nftables", []):
            rule = item.get("rule")
            if not rule:
                continue
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    out[rule["chain"]] = out.get(rule["chain"], 0) + expr["counter"]["packets"]
        return out

    def __enter__(self) -> MobilityHeaderLoss:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
