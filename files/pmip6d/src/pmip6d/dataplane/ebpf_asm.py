"""A minimal eBPF assembler: named instructions in, the kernel's ``struct bpf_insn`` bytes out.

Pure: no system calls. Only what the tunnel programs of :mod:`.ebpf_programs`
use — moves, loads and stores, a few ALU operations, byte swaps, conditional
jumps to *labels*, helper calls and the 64-bit immediate load (also for map
file descriptors). Jumps name a label; :meth:`Program.assemble` resolves them
to instruction offsets, so a program reads top to bottom like the C it
replaces.

Encoding (``include/uapi/linux/bpf.h``, ``bpf_common.h``)::

    struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }   8 bytes

The register nibbles and the multi-byte fields are in the *host's* byte
order — which is why the programs are assembled on the host that loads them
rather than shipped as an object file built elsewhere.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

from ..errors import PmipError

# instruction classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
# sizes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
SIZES = {4: W, 2: H, 1: B, 8: DW}
# modes
IMM, MEM, ATOMIC = 0x00, 0x60, 0xC0
# sources
K, X = 0x00, 0x08
# ALU operations (the high nibble of the opcode)
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = range(0x00, 0xE0, 0x10)
TO_LE, TO_BE = 0x00, 0x08
# jumps (the same nibble, class JMP/JMP32)
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT = range(0x00, 0xA0, 0x10)
JLT, JLE, JSLT, JSLE = 0xA0, 0xB0, 0xC0, 0xD0
JUMPS = {"==": JEQ, "!=": JNE, ">": JGT, ">=": JGE, "<": JLT, "<=": JLE, "&": JSET}

PSEUDO_MAP_FD = 1  # src_reg of a 64-bit immediate load: imm is a map file descriptor

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
FP = R10  # the read-only frame pointer; the stack is the 512 bytes below it

_INSN = struct.Struct("=BBhi")


def _regs(dst: int, src: int) -> int:
    # The bit-field order follows the host's byte order (bpf.h: dst_reg:4, src_reg:4).
    if sys.byteorder == "little":
        return (src << 4) | dst
    return (dst << 4) | src


@dataclass(frozen=True, slots=True)
class Insn:
    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    label: str | None = None
    """For jumps: the target, resolved into ``off`` by :meth:`Program.assemble`."""

    def encode(self) -> bytes:
        imm = self.imm - (1 << 32) if self.imm >= 1 << 31 else self.imm
        return _INSN.pack(self.code, _regs(self.dst, self.src), self.off, imm)


class AsmError(ValueError, PmipError):
    """A program that cannot be assembled (unknown label, offset out of range...)."""


class Program:
    """Instructions appended in order; :meth:`label` marks the next one as a jump target."""

    def __init__(self) -> None:
        self.insns: list[Insn] = []
        self.labels: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.insns)

    def _add(self, insn: Insn) -> Program:
        self.insns.append(insn)
        return self

    def label(self, name: str) -> Program:
        if name in self.labels:
            raise AsmError(f"label {name!r} defined twice")
        self.labels[name] = len(self.insns)
        return self

    # ---------------------------------------------------------------- moves, ALU

    def mov(self, dst: int, src: int) -> Program:
        """``dst = src`` (64-bit registers)."""
        return self._add(Insn(ALU64 | MOV | X, dst, src))

    def mov_imm(self, dst: int, imm: int) -> Program:
        """``dst = imm`` (32-bit signed immediate, sign-extended)."""
        _check_s32(imm)
        return self._add(Insn(ALU64 | MOV | K, dst, imm=imm))

    def add_imm(self, dst: int, imm: int) -> Program:
        _check_s32(imm)
        return self._add(Insn(ALU64 | ADD | K, dst, imm=imm))

    def and_imm(self, dst: int, imm: int) -> Program:
        _check_s32(imm)
        return self._add(Insn(ALU64 | AND | K, dst, imm=imm))

    def rsh_imm(self, dst: int, imm: int) -> Program:
        return self._add(Insn(ALU64 | RSH | K, dst, imm=imm))

    def to_be(self, dst: int, bits: int) -> Program:
        """``dst = htons/htonl/htonll(dst)`` — a no-op on big-endian hosts except truncation."""
        if bits not in (16, 32, 64):
            raise AsmError("byte swaps are 16, 32 or 64 bits")
        return self._add(Insn(ALU | END | TO_BE, dst, imm=bits))

    def ld_imm64(self, dst: int, value: int) -> Program:
        """``dst = value`` (any 64-bit value; two instruction slots)."""
        value &= (1 << 64) - 1
        self._add(Insn(LD | DW | IMM, dst, imm=value & 0xFFFFFFFF))
        return self._add(Insn(0, imm=value >> 32))

    def ld_map_fd(self, dst: int, fd: int) -> Program:
        """``dst = &map`` — the kernel swaps the file descriptor for the map's address."""
        self._add(Insn(LD | DW | IMM, dst, PSEUDO_MAP_FD, imm=fd))
        return self._add(Insn(0))

    # ---------------------------------------------------------------- memory

    def ldx(self, size: int, dst: int, src: int, off: int) -> Program:
        """``dst = *(u<size*8> *)(src + off)``, zero-extended."""
        return self._add(Insn(LDX | MEM | SIZES[size], dst, src, _s16(off)))

    def stx(self, size: int, dst: int, off: int, src: int) -> Program:
        """``*(u<size*8> *)(dst + off) = src``."""
        return self._add(Insn(STX | MEM | SIZES[size], dst, src, _s16(off)))

    def st_imm(self, size: int, dst: int, off: int, imm: int) -> Program:
        """``*(u<size*8> *)(dst + off) = imm``."""
        _check_s32(imm)
        return self._add(Insn(ST | MEM | SIZES[size], dst, off=_s16(off), imm=imm))

    def atomic_add(self, size: int, dst: int, off: int, src: int) -> Program:
        """``lock *(u<size*8> *)(dst + off) += src`` (the old XADD encoding, any kernel)."""
        if size not in (4, 8):
            raise AsmError("atomic adds are 4 or 8 bytes")
        return self._add(Insn(STX | ATOMIC | SIZES[size], dst, src, _s16(off), ADD))

    def store_bytes(self, dst: int, off: int, data: bytes) -> Program:
        """Write ``data`` at ``dst + off`` with 4-byte immediate stores (then 2, then 1)."""
        pos = 0
        for size, fmt in ((4, "=I"), (2, "=H"), (1, "=B")):
            while len(data) - pos >= size:
                (value,) = struct.unpack_from(fmt, data, pos)
                self.st_imm(size, dst, off + pos, _as_s32(value, size))
                pos += size
        return self

    # ---------------------------------------------------------------- control

    def jmp(self, label: str) -> Program:
        return self._add(Insn(JMP | JA, label=label))

    def jmp_imm(self, op: str, dst: int, imm: int, label: str) -> Program:
        """``if dst <op> imm goto label`` (64-bit compare; imm sign-extended)."""
        _check_s32(imm)
        return self._add(Insn(JMP | JUMPS[op] | K, dst, imm=imm, label=label))

    def jmp_reg(self, op: str, dst: int, src: int, label: str) -> Program:
        """``if dst <op> src goto label`` (64-bit compare)."""
        return self._add(Insn(JMP | JUMPS[op] | X, dst, src, label=label))

    def call(self, helper: int) -> Program:
        """Call a kernel helper: arguments in r1–r5, result in r0; r1–r5 are clobbered."""
        return self._add(Insn(JMP | CALL, imm=helper))

    def exit(self) -> Program:
        return self._add(Insn(JMP | EXIT))

    def ret(self, value: int) -> Program:
        return self.mov_imm(R0, value).exit()

    # ---------------------------------------------------------------- output

    def assemble(self) -> bytes:
        out = bytearray()
        for index, insn in enumerate(self.insns):
            if insn.label is not None:
                if insn.label not in self.labels:
                    raise AsmError(f"jump to undefined label {insn.label!r}")
                offset = self.labels[insn.label] - index - 1
                insn = Insn(insn.code, insn.dst, insn.src, _s16(offset), insn.imm)
            out += insn.encode()
        return bytes(out)


def _s16(value: int) -> int:
    if not -(1 << 15) <= value < 1 << 15:
        raise AsmError(f"offset {value} does not fit 16 bits")
    return value


def _check_s32(value: int) -> None:
    if not -(1 << 31) <= value < 1 << 31:
        raise AsmError(f"immediate {value} does not fit a signed 32-bit field")


def _as_s32(value: int, size: int) -> int:
    """An unsigned ``size``-byte value as the signed immediate that stores the same bytes."""
    if size == 4 and value >= 1 << 31:
        return value - (1 << 32)
    return value
