"""Where mobility options sit (RFC 6275 §6.2) and the padding that puts them there.

Shared by the general encoder (``codec.py``) and the precompiled layouts of the
common PBU/PBA (``fastpath.py``), so both place every option alike.
"""

from __future__ import annotations

from .constants import OptionType

# Alignment xn+y of each option's Type octet, counted from the start of the
# Mobility Header. Options not listed have no alignment requirement.
ALIGNMENT: dict[int, tuple[int, int]] = {
    OptionType.HOME_NETWORK_PREFIX: (8, 4),  # RFC 5213 §8.3
    OptionType.MN_LINK_LAYER_IDENTIFIER: (2, 0),  # RFC 5213 §8.6
    OptionType.LINK_LOCAL_ADDRESS: (8, 6),  # RFC 5213 §8.7
    OptionType.TIMESTAMP: (8, 2),  # RFC 5213 §8.8
    OptionType.RESTART_COUNTER: (4, 2),  # RFC 5847 §5.2
}

# Pad1 / PadN filling of 0-7 octets, precomputed: encoding is on the hot path.
PADDING = tuple(
    b"" if n == 0 else b"\x00" if n == 1 else bytes((OptionType.PADN, n - 2)) + bytes(n - 2)
    for n in range(8)
)


def padding_before(otype: int, position: int) -> bytes:
    """The Pad1/PadN that puts an option of type ``otype`` at its alignment after ``position``."""
    align = ALIGNMENT.get(otype)
    if align is None:
        return b""
    x, y = align
    return PADDING[(y - position) % x]
