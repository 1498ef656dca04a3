# Copyright (c) netlmm.pmipv6 developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ESP security associations for the MAG<->LMA signaling, derived from one domain secret.

Why derived: the operator keeps ONE secret (``pmipv6_signaling_secret``, in Ansible
Vault); every MAG<->LMA pair and direction gets its own key and SPI from it with
HKDF-SHA256 (RFC 5869), so no key is shared between two pairs or two directions, both
ends compute the same values without talking to each other, and each host's
configuration carries only its own SAs. A new key epoch (or a new secret) gives new
keys for everyone: re-running site.yml is the rekeying.

Controller side only (filters); the agents never see the domain secret.
"""

from __future__ import annotations

try:  # ansible-core depends on cryptography; the guard keeps a bare import (sanity) working
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError:  # pragma: no cover - reported when a key is derived
    hashes = HKDF = None

# RFC 4106 AES-GCM with a 16-byte ICV: the AES key, then the 4-byte salt (§8.1).
KEY_LENGTHS = {"aes128-gcm16": 16 + 4, "aes256-gcm16": 32 + 4}
DEFAULT_ALGORITHM = "aes256-gcm16"
MIN_SECRET_LENGTH = 32
"""Characters; a generated or vault secret is much longer, a typed password too short."""
MIN_SPI = 256  # 1..255 are reserved by IANA (RFC 4303 §2.1)
_SPI_RANGE = 2**32 - MIN_SPI
_SALT = b"netlmm.pmipv6 signaling"
VERSION = "v1"


class SignalingKeyError(ValueError):
    """The secret, epoch or algorithm cannot give SAs, or two SPIs of one receiver collide."""


def _hkdf(secret: str, info: str, length: int) -> bytes:
    if HKDF is None:
        raise SignalingKeyError(
            "deriving the signaling keys needs the Python package 'cryptography' on the controller"
        )
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=info.encode()).derive(
        secret.encode()
    )


def check_inputs(secret: object, epoch: object, algorithm: object) -> None:
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        raise SignalingKeyError(
            f"pmipv6_signaling_secret must be a string of at least {MIN_SECRET_LENGTH} characters"
        )
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise SignalingKeyError(
            f"pmipv6_signaling_key_epoch must be an integer >= 1, not {epoch!r}"
        )
    if algorithm not in KEY_LENGTHS:
        raise SignalingKeyError(
            f"algorithm {algorithm!r} is not one of {', '.join(sorted(KEY_LENGTHS))}"
        )


def direction_sa(secret: str, sender: str, receiver: str, epoch: int, algorithm: str) -> dict:
    """``{spi, key}`` of the SA that ``sender`` uses towards ``receiver`` (key in hex).

    The info strings name the version, the direction, the epoch and (for the key) the
    algorithm, so a change of any of them gives unrelated values.
    """
    pair = f"{sender}->{receiver} epoch {epoch}"
    key = _hkdf(
        secret, f"netlmm.pmipv6 esp {VERSION} key {algorithm} {pair}", KEY_LENGTHS[algorithm]
    )
    spi_bytes = _hkdf(secret, f"netlmm.pmipv6 esp {VERSION} spi {pair}", 4)
    spi = MIN_SPI + int.from_bytes(spi_bytes, "big") % _SPI_RANGE
    return {"spi": spi, "key": key.hex()}


def domain_pairs(mag_lma: dict[str, str]) -> list[tuple[str, str]]:
    """(mag, lma) of every MAG of the domain, in a stable order."""
    return sorted(mag_lma.items())


def check_spis(secret: str, mag_lma: dict[str, str], epoch: int) -> None:
    """Every receiver's inbound SPIs are distinct (a receiver finds the SA by SPI).

    Checked for the whole domain on every host, so all hosts fail alike rather than
    the one whose SAs collide. The algorithm does not enter the SPI, so it is not an input.
    """
    inbound: dict[str, dict[int, str]] = {}
    for mag, lma in domain_pairs(mag_lma):
        for sender, receiver in ((mag, lma), (lma, mag)):
            spi = direction_sa(secret, sender, receiver, epoch, DEFAULT_ALGORITHM)["spi"]
            seen = inbound.setdefault(receiver, {})
            if spi in seen:
                raise SignalingKeyError(
                    f"SPI collision at {receiver}: {seen[spi]} and {sender}->{receiver} derive "
                    f"the same SPI {spi} in key epoch {epoch}; set pmipv6_signaling_key_epoch "
                    f"to {epoch + 1} (or a new pmipv6_signaling_secret) and run site.yml again"
                )
            seen[spi] = f"{sender}->{receiver}"


def host_sas(
    secret: str,
    host: str,
    mag_lma: dict[str, str],
    epoch: int = 1,
    algorithm: str = DEFAULT_ALGORITHM,
) -> list[dict]:
    """The ``security_associations`` entries of ``host``'s agent configuration.

    An LMA gets one entry per MAG that names it; a MAG one for its LMA; any other host
    none. ``outbound`` is this host's sending SA, ``inbound`` the peer's sending SA.
    """
    check_inputs(secret, epoch, algorithm)
    check_spis(secret, mag_lma, epoch)
    if host in mag_lma:
        peers = [mag_lma[host]]
    else:
        peers = [mag for mag, lma in domain_pairs(mag_lma) if lma == host]
    return [
        {
            "peer": peer,
            "algorithm": algorithm,
            "outbound": direction_sa(secret, host, peer, epoch, algorithm),
            "inbound": direction_sa(secret, peer, host, epoch, algorithm),
        }
        for peer in peers
    ]
