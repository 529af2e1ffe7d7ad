"""RFC 2473 IPv6-in-IPv6 (and IPv4-in-IPv6) tunnels made of two tiny eBPF programs.

For kernels that have neither ``ip6_tunnel`` nor seg6 lightweight tunnels
(the lab's CI machines run such a kernel) but do have the two hooks eBPF
offers for this since Linux 5.3 / 6.3:

- encapsulation: a route's ``lwt xmit`` hook runs ``encapsulation_program``,
  which pushes an outer IPv6 header (our endpoint -> the peer, next header 41
  for an IPv6 packet, 4 for an IPv4 one, hop limit 64, payload length = the
  packet's length) with ``bpf_lwt_push_encap(BPF_LWT_ENCAP_IP)`` and asks the
  kernel to route the result again by its outer destination
  (``BPF_LWT_REROUTE``). The route carries 40 bytes of headroom, which the
  kernel subtracts from the path MTU, so an inner packet too big for the
  tunnel gets an ICMP Packet Too Big (IPv6) or Fragmentation Needed (IPv4)
  like an ip6tnl device would send.
- decapsulation: a ``tc`` ingress filter (clsact, direct action) on each
  interface toward a peer runs ``decapsulation_program``: an IPv6 packet for
  our endpoint with next header 41 or 4 loses its outer header
  (``bpf_skb_adjust_room(-40, BPF_ADJ_ROOM_MAC, flags)``, with
  ``BPF_F_ADJ_ROOM_DECAP_L3_IPV4`` for an IPv4 packet inside, Linux 6.3+) and
  goes on into the stack as the inner packet; anything else passes untouched.

The programs are assembled here instead of compiled from C: they are two
dozen instructions each, the peer's and our addresses are baked in as
immediates (one encapsulation program per peer), and assembling them needs
no clang, LLVM or libbpf on the host or in the images. ``load`` hands the
bytes to the kernel's verifier through the ``bpf(2)`` system call (there is
no Python binding of it in pyroute2), and the verifier is what guarantees
they are safe. The instruction encoding is the kernel's uapi
(include/uapi/linux/bpf.h, bpf_common.h); docs/tunnels.md shows the
programs as eBPF assembly.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address

# bpf(2) commands and program types (include/uapi/linux/bpf.h).
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_TYPE_LWT_XMIT = 12
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "riscv64": 280, "ppc64le": 361}
# Helper function numbers.
BPF_FUNC_SKB_ADJUST_ROOM = 50
BPF_FUNC_LWT_PUSH_ENCAP = 73
# Arguments and return codes of those helpers and hooks.
BPF_LWT_ENCAP_IP = 2
BPF_LWT_REROUTE = 128
BPF_DROP = 2
BPF_ADJ_ROOM_MAC = 1
BPF_F_ADJ_ROOM_DECAP_L3_IPV4 = 1 << 7
TC_ACT_OK = 0
TC_ACT_SHOT = 2
# struct __sk_buff offsets.
SKB_LEN, SKB_PROTOCOL, SKB_DATA, SKB_DATA_END = 0, 16, 76, 80

IPPROTO_IPIP = 4
IPPROTO_IPV6 = 41
OUTER_HEADER_LENGTH = 40
TUNNEL_HOP_LIMIT = 64
ETH_HEADER_LENGTH = 14
ETH_P_IPV6 = 0x86DD
ETH_P_IP = 0x0800

ENCAPSULATION_NAME = "pmip6_encap"
DECAPSULATION_NAME = "pmip6_decap"

# Opcodes (class | size/op | source), as named in the kernel's assembly syntax.
_MOV64_REG, _MOV64_IMM = 0xBF, 0xB7
_ADD64_IMM, _OR64_IMM, _OR64_REG, _LSH64_IMM = 0x07, 0x47, 0x4F, 0x67
_TO_BE = 0xDC
_LDX_W, _LDX_H, _LDX_B, _LDX_DW = 0x61, 0x69, 0x71, 0x79
_ST_W, _STX_W, _STX_DW = 0x62, 0x63, 0x7B
_LD_IMM64 = 0x18
_JEQ_IMM, _JNE_IMM, _JNE_REG, _JGT_REG = 0x15, 0x55, 0x5D, 0x2D
_CALL, _EXIT = 0x85, 0x95
R0, R1, R2, R3, R4, R5, R6, R7, R8, R10 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 10

_INSN = struct.Struct("<BBhi")


def _insn(opcode: int, dst: int = 0, src: int = 0, offset: int = 0, imm: int = 0) -> bytes:
    return _INSN.pack(opcode, (src << 4) | dst, offset, imm)


def _load_imm64(dst: int, value: int) -> bytes:
    """The two-slot `dst = imm64` instruction."""
    low, high = value & 0xFFFFFFFF, value >> 32
    signed = struct.Struct("<i")
    return _insn(_LD_IMM64, dst, imm=signed.unpack(struct.pack("<I", low))[0]) + _insn(
        0, imm=signed.unpack(struct.pack("<I", high))[0]
    )


def _halves(address: IPv6Address) -> tuple[int, int]:
    """The address as two 64-bit words, as a little-endian load from memory sees them."""
    raw = address.packed
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


def encapsulation_program(local: IPv6Address, peer: IPv6Address) -> bytes:
    """lwt xmit: push IPv6 `local` -> `peer` in front of the packet, route it again."""
    code = [
        _insn(_MOV64_REG, R6, R1),  # r6 = skb
        _insn(_LDX_W, R2, R6, SKB_LEN),  # r2 = length of the inner packet
        _insn(_ST_W, R10, offset=-40, imm=0x60),  # version 6, traffic class 0, flow 0
        _insn(_MOV64_REG, R3, R2),
        _insn(_TO_BE, R3, imm=16),  # payload length, network order
        _insn(_OR64_IMM, R3, imm=TUNNEL_HOP_LIMIT << 24),
        _insn(_LDX_W, R5, R6, SKB_PROTOCOL),  # network order in the low 16 bits
        _insn(_MOV64_IMM, R4, imm=IPPROTO_IPV6),
        _insn(_JNE_IMM, R5, offset=1, imm=int.from_bytes(ETH_P_IP.to_bytes(2, "big"), "little")),
        _insn(_MOV64_IMM, R4, imm=IPPROTO_IPIP),
        _insn(_LSH64_IMM, R4, imm=16),
        _insn(_OR64_REG, R3, R4),  # | next header << 16
        _insn(_STX_W, R10, R3, -36),
    ]
    for base, address in ((-32, local), (-16, peer)):
        for index, half in enumerate(_halves(address)):
            code += [_load_imm64(R3, half), _insn(_STX_DW, R10, R3, base + 8 * index)]
    code += [
        _insn(_MOV64_REG, R1, R6),
        _insn(_MOV64_IMM, R2, imm=BPF_LWT_ENCAP_IP),
        _insn(_MOV64_REG, R3, R10),
        _insn(_ADD64_IMM, R3, imm=-OUTER_HEADER_LENGTH),
        _insn(_MOV64_IMM, R4, imm=OUTER_HEADER_LENGTH),
        _insn(_CALL, imm=BPF_FUNC_LWT_PUSH_ENCAP),
        _insn(_JNE_IMM, R0, offset=2, imm=0),
        _insn(_MOV64_IMM, R0, imm=BPF_LWT_REROUTE),
        _insn(_EXIT),
        _insn(_MOV64_IMM, R0, imm=BPF_DROP),
        _insn(_EXIT),
    ]
    return b"".join(code)


def decapsulation_program(local: IPv6Address) -> bytes:
    """tc ingress: strip the outer header of IPv6/IPv4-in-IPv6 sent to `local`."""
    high_word, low_word = _halves(local)
    destination = ETH_HEADER_LENGTH + 24
    next_header = ETH_HEADER_LENGTH + 6
    ethertype = int.from_bytes(ETH_P_IPV6.to_bytes(2, "big"), "little")
    # (instruction, jumps to "pass") in order; jump offsets are filled in below.
    body: list[tuple[bytes, bool]] = [
        (_insn(_MOV64_REG, R6, R1), False),
        (_insn(_LDX_W, R2, R6, SKB_DATA), False),
        (_insn(_LDX_W, R3, R6, SKB_DATA_END), False),
        (_insn(_MOV64_REG, R4, R2), False),
        (_insn(_ADD64_IMM, R4, imm=ETH_HEADER_LENGTH + OUTER_HEADER_LENGTH), False),
        (_insn(_JGT_REG, R4, R3), True),  # shorter than Ethernet + IPv6
        (_insn(_LDX_H, R5, R2, 12), False),
        (_insn(_JNE_IMM, R5, imm=ethertype), True),
        (_insn(_LDX_DW, R5, R2, destination), False),
        (_load_imm64(R7, high_word), False),
        (_insn(_JNE_REG, R5, R7), True),
        (_insn(_LDX_DW, R5, R2, destination + 8), False),
        (_load_imm64(R7, low_word), False),
        (_insn(_JNE_REG, R5, R7), True),
        (_insn(_LDX_B, R8, R2, next_header), False),
        # Same family inside and out: no flag, which older kernels (< 6.3) accept too.
        (_insn(_MOV64_IMM, R4, imm=0), False),
        (_insn(_JEQ_IMM, R8, offset=2, imm=IPPROTO_IPV6), False),
        (_insn(_JNE_IMM, R8, imm=IPPROTO_IPIP), True),
        (_insn(_MOV64_IMM, R4, imm=BPF_F_ADJ_ROOM_DECAP_L3_IPV4), False),
        (_insn(_MOV64_REG, R1, R6), False),
        (_insn(_MOV64_IMM, R2, imm=-OUTER_HEADER_LENGTH), False),
        (_insn(_MOV64_IMM, R3, imm=BPF_ADJ_ROOM_MAC), False),
        (_insn(_CALL, imm=BPF_FUNC_SKB_ADJUST_ROOM), False),
    ]
    # A packet for our endpoint that cannot be decapsulated is dropped, as the
    # kernel's own tunnels drop it: it is of no use to anyone else.
    tail = [
        _insn(_JNE_IMM, R0, offset=2, imm=0),
        _insn(_MOV64_IMM, R0, imm=TC_ACT_OK),  # decapsulated: on as the inner packet
        _insn(_EXIT),
        _insn(_MOV64_IMM, R0, imm=TC_ACT_SHOT),
        _insn(_EXIT),
    ]
    passed = [_insn(_MOV64_IMM, R0, imm=TC_ACT_OK), _insn(_EXIT)]  # not ours: untouched
    pass_slot = sum(len(code) // _INSN.size for code, _ in body) + len(tail)
    code, position = [], 0
    for instruction, to_pass in body:
        if to_pass:
            opcode, registers, _, imm = _INSN.unpack(instruction)
            instruction = _INSN.pack(opcode, registers, pass_slot - position - 1, imm)
        code.append(instruction)
        position += len(instruction) // _INSN.size
    return b"".join(code + tail + passed)


class BpfError(OSError):
    """The kernel refused a program; the message carries the verifier's last words."""


@dataclass(frozen=True)
class LoadedProgram:
    fd: int
    name: str

    def close(self) -> None:
        os.close(self.fd)


_libc = ctypes.CDLL(None, use_errno=True)


def _bpf_syscall() -> int:
    machine = os.uname().machine
    try:
        return _SYS_BPF[machine]
    except KeyError:
        raise BpfError(errno.ENOSYS, f"no bpf(2) system call number known for {machine}") from None


def load(program_type: int, code: bytes, name: str) -> LoadedProgram:
    """BPF_PROG_LOAD; on refusal, load again with the verifier log to say why."""
    for log_level in (0, 1):
        instructions = ctypes.create_string_buffer(code, len(code))
        license_text = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(65536 if log_level else 1)
        # union bpf_attr, BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license,
        # log_level, log_size, log_buf, kern_version, prog_flags, prog_name[16].
        attr = struct.pack(
            "=IIQQIIQII16s",
            program_type,
            len(code) // _INSN.size,
            ctypes.addressof(instructions),
            ctypes.addressof(license_text),
            log_level,
            len(log) if log_level else 0,
            ctypes.addressof(log) if log_level else 0,
            0,
            0,
            name.encode()[:15],
        ).ljust(128, b"\0")
        attr_buffer = ctypes.create_string_buffer(attr, len(attr))
        fd = _libc.syscall(_bpf_syscall(), BPF_PROG_LOAD, attr_buffer, len(attr))
        if fd >= 0:
            return LoadedProgram(fd, name)
        error = ctypes.get_errno()
        if error in (errno.EPERM, errno.ENOSYS) or log_level:
            detail = log.value.decode(errors="replace").strip().splitlines()[-3:]
            hint = (
                " (loading BPF programs needs CAP_BPF or CAP_SYS_ADMIN)"
                if error == errno.EPERM
                else ""
            )
            message = f"{name}: {os.strerror(error)}{hint} {' | '.join(detail)}"
            raise BpfError(error, message.strip())
    raise AssertionError("unreachable")


def load_encapsulation(local: IPv6Address, peer: IPv6Address) -> LoadedProgram:
    return load(BPF_PROG_TYPE_LWT_XMIT, encapsulation_program(local, peer), ENCAPSULATION_NAME)


def load_decapsulation(local: IPv6Address) -> LoadedProgram:
    return load(BPF_PROG_TYPE_SCHED_CLS, decapsulation_program(local), DECAPSULATION_NAME)
