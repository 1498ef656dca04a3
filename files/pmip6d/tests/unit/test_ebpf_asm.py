"""The eBPF assembler's bytes against the kernel's own macros (include/linux/filter.h)."""

from __future__ import annotations

import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmip6d.dataplane import ebpf_programs
from pmip6d.dataplane.ebpf_asm import FP, R0, R1, R2, R3, R6, AsmError, Program


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """``struct bpf_insn`` as the kernel lays it out (host byte order and bit-field order)."""
    regs = (src << 4) | dst if sys.byteorder == "little" else (dst << 4) | src
    return struct.pack("=BBhi", code, regs, off, imm)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        # BPF_MOV64_REG(BPF_REG_6, BPF_REG_1)
        (lambda p: p.mov(R6, R1), insn(0xBF, 6, 1)),
        # BPF_MOV64_IMM(BPF_REG_2, -40)
        (lambda p: p.mov_imm(R2, -40), insn(0xB7, 2, imm=-40)),
        # BPF_ALU64_IMM(BPF_ADD, BPF_REG_3, -40)
        (lambda p: p.add_imm(R3, -40), insn(0x07, 3, imm=-40)),
        # BPF_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_6, 16)
        (lambda p: p.ldx(4, R2, R6, 16), insn(0x61, 2, 6, 16)),
        # BPF_LDX_MEM(BPF_DW, BPF_REG_2, BPF_REG_10, -16)
        (lambda p: p.ldx(8, R2, FP, -16), insn(0x79, 2, 10, -16)),
        # BPF_STX_MEM(BPF_H, BPF_REG_10, BPF_REG_2, -36)
        (lambda p: p.stx(2, FP, -36, R2), insn(0x6B, 10, 2, -36)),
        # BPF_ST_MEM(BPF_B, BPF_REG_10, -34, 41)
        (lambda p: p.st_imm(1, FP, -34, 41), insn(0x72, 10, 0, -34, 41)),
        # BPF_ATOMIC_OP(BPF_DW, BPF_ADD, BPF_REG_0, BPF_REG_1, 0) (= the old BPF_STX_XADD)
        (lambda p: p.atomic_add(8, R0, 0, R1), insn(0xDB, 0, 1, 0, 0)),
        # BPF_ENDIAN(BPF_TO_BE, BPF_REG_2, 16)
        (lambda p: p.to_be(R2, 16), insn(0xDC, 2, imm=16)),
        # BPF_EMIT_CALL(BPF_FUNC_lwt_push_encap)
        (lambda p: p.call(73), insn(0x85, imm=73)),
        # BPF_EXIT_INSN()
        (lambda p: p.exit(), insn(0x95)),
        # BPF_LD_MAP_FD(BPF_REG_1, 7)
        (lambda p: p.ld_map_fd(R1, 7), insn(0x18, 1, 1, imm=7) + insn(0)),
        # BPF_LD_IMM64(BPF_REG_3, 0x0123456789abcdef)
        (
            lambda p: p.ld_imm64(R3, 0x0123456789ABCDEF),
            insn(0x18, 3, imm=0x89ABCDEF - (1 << 32)) + insn(0, imm=0x01234567),
        ),
    ],
)
def test_instructions_encode_like_the_kernel_macros(build, expected):
    program = Program()
    build(program)
    assert program.assemble() == expected


def test_jumps_resolve_labels_forward_and_backward():
    p = Program()
    p.label("top")
    p.jmp_imm("!=", R2, 41, "out")  # 0: skips 1 and 2
    p.mov_imm(R0, 1)  # 1
    p.jmp("top")  # 2: back to 0
    p.label("out")
    p.jmp_reg("==", R2, R3, "out")  # 3: to itself
    code = p.assemble()
    assert code[0:8] == insn(0x55, 2, off=2, imm=41)  # BPF_JMP_IMM(BPF_JNE, R2, 41, +2)
    assert code[16:24] == insn(0x05, off=-3)  # BPF_JMP_A(-3)
    assert code[24:32] == insn(0x1D, 2, 3, off=-1)  # BPF_JMP_REG(BPF_JEQ, R2, R3, -1)


def test_store_bytes_covers_every_byte_with_the_widest_stores():
    p = Program().store_bytes(FP, -8, bytes(range(1, 8)))
    assert len(p) == 3, "4 + 2 + 1 bytes"
    code = p.assemble()
    word, half = (int.from_bytes(b, sys.byteorder) for b in (b"\1\2\3\4", b"\5\6"))
    assert code[0:8] == insn(0x62, 10, 0, -8, word)  # BPF_ST_MEM(BPF_W, ...)
    assert code[8:16] == insn(0x6A, 10, 0, -4, half)  # BPF_ST_MEM(BPF_H, ...)
    assert code[16:24] == insn(0x72, 10, 0, -2, 0x07)  # BPF_ST_MEM(BPF_B, ...)


def test_bad_programs_are_refused_before_the_kernel_sees_them():
    with pytest.raises(AsmError, match="undefined label"):
        Program().jmp("nowhere").assemble()
    with pytest.raises(AsmError, match="twice"):
        Program().label("x").label("x")
    with pytest.raises(AsmError, match="32-bit"):
        Program().mov_imm(R0, 1 << 31)
    with pytest.raises(AsmError, match="16 bits"):
        Program().ldx(4, R0, R1, 1 << 15)


def test_the_tunnel_programs_assemble_and_end_every_path_with_exit():
    local, peer = bytes(range(16)), bytes(range(16, 32))
    for program in (
        ebpf_programs.encap_program(local, peer, stats_fd=3),
        ebpf_programs.decap_program(local, peers_fd=4, stats_fd=3),
    ):
        code = program.assemble()
        assert len(code) == 8 * len(program) and len(program) < 100
        assert code[-8:] == insn(0x95)
    with pytest.raises(ValueError, match="16 bytes"):
        ebpf_programs.encap_program(local[:4], peer, stats_fd=3)
    with pytest.raises(ValueError, match="hop limit"):
        ebpf_programs.encap_program(local, peer, stats_fd=3, hop_limit=0)


@given(local=st.binary(min_size=16, max_size=16), peer=st.binary(min_size=16, max_size=16))
def test_the_encap_template_patched_for_a_peer_is_the_program_assembled_for_it(local, peer):
    template = ebpf_programs.EncapTemplate(local, stats_fd=5)
    assert template.render(peer) == ebpf_programs.encap_program(local, peer, 5).assemble()
