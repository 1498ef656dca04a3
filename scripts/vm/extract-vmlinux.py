"""Unpack the ELF kernel (vmlinux) from a Debian bzImage for a PVH boot.

Why: under TCG the bzImage's own decompressor takes about 7 s (xz, run by an
emulated CPU) before the kernel prints anything. Debian builds with CONFIG_PVH,
so QEMU can start the uncompressed ELF directly (-kernel vmlinux), and Python
decompresses it on the host in about 1 s, once per kernel package.

Usage: python3 extract-vmlinux.py BZIMAGE OUT. Exits 1 (and writes nothing) if no
compressed ELF with a PVH entry note is found; the caller then boots BZIMAGE.
Same idea as the kernel's scripts/extract-vmlinux, with the formats Debian uses.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import struct
import sys
import zlib
from pathlib import Path

XEN_ELFNOTE_PHYS32_ENTRY = 18  # the note QEMU looks for to boot an ELF kernel as PVH


def has_pvh_note(elf: bytes) -> bool:
    if elf[:4] != b"\x7fELF" or elf[4] != 2:  # ELF64 only
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        header = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        p_type, p_offset, p_filesz = header[0], header[2], header[5]
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def candidates(image: bytes):
    """Every decompressible stream in the image that starts where a magic is."""
    for magic, decompress in (
        (b"\xfd7zXZ\x00", lambda d: lzma.LZMADecompressor().decompress(d)),
        (b"\x1f\x8b\x08", lambda d: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(d)),
    ):
        start = image.find(magic)
        while start != -1:
            # A magic that is not the start of a stream fails to decompress.
            with contextlib.suppress(lzma.LZMAError, zlib.error, EOFError):
                yield decompress(image[start:])
            start = image.find(magic, start + 1)


def main() -> int:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    for elf in candidates(src.read_bytes()):
        if has_pvh_note(elf):
            tmp = out.with_name(out.name + f".tmp{os.getpid()}")
            tmp.write_bytes(elf)
            tmp.replace(out)
            return 0
    print(f"extract-vmlinux: no ELF kernel with a PVH note in {src}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
