"""The baseline target (``--worker null``): a stateless raw-socket loop answering every PBU."""

from __future__ import annotations

import signal
import socket
import sys

from pmip6d.wire import (
    ZERO_PREFIX,
    MHType,
    OptionType,
    Prefix,
    ProxyBindingAck,
    ProxyBindingUpdate,
    encode,
)

from .protocol import (
    MAG_LINK_LOCAL,
    MAX_LIFETIME_UNITS,
    MN_ID_LENGTH,
    NULL_HNP,
    emit,
    mh_socket,
    mn_id,
    mn_mac,
    option_offsets,
)


def null_main(address: str) -> int:
    """Answer every PBU with one fixed PBA; only the sequence number and MN-ID are patched."""
    sample_pbu = encode(
        ProxyBindingUpdate(
            sequence=0,
            lifetime_units=1,
            mn_id=mn_id(0),
            home_network_prefixes=[ZERO_PREFIX],
            handoff_indicator=1,
            access_technology_type=4,
        )
    )
    pbu_id_at = option_offsets(sample_pbu)[OptionType.MN_IDENTIFIER] + 3
    pba = bytearray(
        encode(
            ProxyBindingAck(
                status=0,
                sequence=0,
                lifetime_units=MAX_LIFETIME_UNITS,
                mn_id=mn_id(0),
                home_network_prefixes=[Prefix.parse(f"{NULL_HNP}/64")],
                handoff_indicator=1,
                access_technology_type=4,
                mn_link_layer_id=mn_mac(0),
                link_local_address=socket.inet_pton(socket.AF_INET6, MAG_LINK_LOCAL),
                timestamp=0,
            )
        )
    )
    pba_id_at = option_offsets(pba)[OptionType.MN_IDENTIFIER] + 3
    pbu_id_end = pbu_id_at + MN_ID_LENGTH
    pba_id_end = pba_id_at + MN_ID_LENGTH
    sock = mh_socket(address)
    signal.signal(signal.SIGTERM, lambda *_unused: sys.exit(0))
    emit({"type": "ready"})
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    binding_update = MHType.BINDING_UPDATE
    while True:
        data, src = recvfrom(4096)
        if len(data) < pbu_id_end or data[2] != binding_update:
            continue
        pba[8:10] = data[6:8]
        pba[pba_id_at:pba_id_end] = data[pbu_id_at:pbu_id_end]
        sendto(pba, src)
