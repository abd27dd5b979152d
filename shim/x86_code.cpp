#include "x86_code.hpp"

#include <cstring>

namespace green::shim::x86 {

namespace {

using Kind = Insn::Kind;

bool fits32(std::int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

// The ModRM byte at p and what follows it (SIB, displacement); then `imm` immediate bytes.
// Returns the end, or nullptr. Marks `out` rip_rel for mod=00 rm=101.
const std::uint8_t* modrm(const std::uint8_t* start, const std::uint8_t* p, int imm, Insn& out) {
  const int mod = p[0] >> 6, rm = p[0] & 7;
  ++p;
  if (mod != 3 && rm == 4) {
    const int base = p[0] & 7;
    ++p;
    if (mod == 0 && base == 5) p += 4;
  }
  if (mod == 0 && rm == 5) {
    out.kind = Kind::rip_rel;
    out.rel_at = static_cast<std::uint8_t>(p - start);
    p += 4;
  } else if (mod == 1) {
    p += 1;
  } else if (mod == 2) {
    p += 4;
  }
  return p + imm;
}

// Two-byte opcodes (0f xx) that take a ModRM and no immediate: nop forms, endbr64, cmov,
// setcc, movzx/movsx, imul, bt, cmpxchg, xadd, and the SSE moves and logic ops of memcpy-like
// code (their prefixes only choose the variant).
bool two_byte_modrm(std::uint8_t op) {
  return op == 0x1e || op == 0x1f || (op >= 0x40 && op <= 0x4f) || (op >= 0x90 && op <= 0x9f) ||
         op == 0xa3 || op == 0xab || op == 0xaf || op == 0xb0 || op == 0xb1 || op == 0xb6 || op == 0xb7 ||
         op == 0xbe || op == 0xbf || op == 0xc0 || op == 0xc1 || op == 0x10 || op == 0x11 || op == 0x28 ||
         op == 0x29 || op == 0x6e || op == 0x6f || op == 0x7e || op == 0x7f || op == 0xd6 || op == 0xef ||
         op == 0x57 || op == 0x54 || op == 0x74 || op == 0xd7;
}

}  // namespace

std::uintptr_t Insn::target(std::uintptr_t at) const noexcept {
  const auto* p = reinterpret_cast<const std::uint8_t*>(at) + rel_at;
  std::int64_t rel;
  if (kind == Kind::jcc8 || kind == Kind::jmp8) {
    rel = static_cast<std::int8_t>(*p);
  } else {
    std::int32_t r32;
    std::memcpy(&r32, p, 4);
    rel = r32;
  }
  return at + len + static_cast<std::uintptr_t>(rel);
}

Insn decode(const std::uint8_t* start) noexcept {
  Insn out;
  const std::uint8_t* p = start;
  bool opsize = false, rexw = false;
  for (int n = 0; n < 4; ++n) {
    const std::uint8_t b = *p;
    if (b == 0x66) {
      opsize = true;
    } else if (!(b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x3e || b == 0x26 || b == 0x36 || b == 0x64 ||
                 b == 0x65 || b == 0xf0)) {
      break;
    }
    ++p;
  }
  if ((*p & 0xf0) == 0x40) rexw = (*p++ & 8) != 0;
  const std::uint8_t op = *p++;
  const int imm_z = opsize && !rexw ? 2 : 4;  // the "z" immediate: 16 or 32 bits (REX.W wins)
  out.kind = Kind::plain;
  const std::uint8_t* end = nullptr;
  if (op == 0x0f) {
    const std::uint8_t op2 = *p++;
    if (op2 == 0x05 || op2 == 0x0b || op2 == 0xa2) {  // syscall, ud2, cpuid
      end = p;
    } else if (op2 >= 0x80 && op2 <= 0x8f) {
      out.kind = Kind::jcc32;
      out.rel_at = static_cast<std::uint8_t>(p - start);
      end = p + 4;
    } else if (two_byte_modrm(op2)) {
      end = modrm(start, p, 0, out);
    } else if (op2 == 0xba) {  // bt* r/m, imm8
      end = modrm(start, p, 1, out);
    }
  } else if (op < 0x40 && (op & 7) < 4) {
    end = modrm(start, p, 0, out);  // add/or/adc/sbb/and/sub/xor/cmp r/m forms
  } else if (op < 0x40 && (op & 7) == 4) {
    end = p + 1;  // the same on al, imm8
  } else if (op < 0x40 && (op & 7) == 5) {
    end = p + imm_z;
  } else if (op >= 0x50 && op <= 0x5f) {
    end = p;
  } else if (op >= 0x70 && op <= 0x7f) {
    out.kind = Kind::jcc8;
    out.rel_at = static_cast<std::uint8_t>(p - start);
    end = p + 1;
  } else if (op >= 0xb0 && op <= 0xb7) {
    end = p + 1;
  } else if (op >= 0xb8 && op <= 0xbf) {
    end = p + (rexw ? 8 : imm_z);
  } else if (op >= 0x90 && op <= 0x99) {
    end = p;
  } else {
    switch (op) {
      case 0x63: case 0x84: case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x8a: case 0x8b:
      case 0x8d: case 0xd1: case 0xd3: case 0xfe: case 0xff:
        end = modrm(start, p, 0, out);
        break;
      case 0x6b: case 0x80: case 0x83: case 0xc0: case 0xc1: case 0xc6:
        end = modrm(start, p, 1, out);
        break;
      case 0x69: case 0x81: case 0xc7:
        end = modrm(start, p, imm_z, out);
        break;
      case 0xf6: end = modrm(start, p, ((p[0] >> 3) & 7) < 2 ? 1 : 0, out); break;
      case 0xf7: end = modrm(start, p, ((p[0] >> 3) & 7) < 2 ? imm_z : 0, out); break;
      case 0x6a: case 0xa8: end = p + 1; break;
      case 0x68: case 0xa9: end = p + imm_z; break;
      case 0xc9: case 0xcc: case 0xf4: end = p; break;
      case 0xc3:
        out.kind = Kind::ret;
        end = p;
        break;
      case 0xeb:
        out.kind = Kind::jmp8;
        out.rel_at = static_cast<std::uint8_t>(p - start);
        end = p + 1;
        break;
      case 0xe9: case 0xe8:
        out.kind = op == 0xe9 ? Kind::jmp32 : Kind::call32;
        out.rel_at = static_cast<std::uint8_t>(p - start);
        end = p + 4;
        break;
      default: break;
    }
  }
  if (end == nullptr || end - start > 15) return Insn{};
  out.len = static_cast<std::uint8_t>(end - start);
  return out;
}

void write_abs_jump(std::uint8_t* to, std::uintptr_t target) noexcept {
  static const std::uint8_t jmp[6] = {0xff, 0x25, 0, 0, 0, 0};
  std::memcpy(to, jmp, 6);
  std::memcpy(to + 6, &target, 8);
}

int relocate(const std::uint8_t* from, std::size_t min, std::uint8_t* to, std::size_t room, std::size_t& taken,
             bool& ends) noexcept {
  const auto src0 = reinterpret_cast<std::uintptr_t>(from);
  std::size_t span = 0;  // what will be moved: whole instructions covering `min`
  while (span < min) {
    const Insn i = decode(from + span);
    if (i.kind == Kind::unknown) return -1;
    span += i.len;
  }
  std::size_t in = 0, out = 0;
  ends = false;
  while (in < min) {
    const Insn i = decode(from + in);
    const std::uintptr_t at = src0 + in;
    const auto dst = reinterpret_cast<std::uintptr_t>(to + out);
    if (i.kind == Kind::unknown || i.kind == Kind::ret || i.kind == Kind::call32) return -1;
    // A system call stays in glibc's code, the one place syscall_trap.cpp lets calls from.
    if (from[in] == 0x0f && from[in + 1] == 0x05) return -1;
    if (room - out < kAbsJumpLen + 8) return -1;
    if (i.kind == Kind::plain || i.kind == Kind::rip_rel) {
      std::memcpy(to + out, from + in, i.len);
      if (i.kind == Kind::rip_rel) {
        std::int32_t d;
        std::memcpy(&d, from + in + i.rel_at, 4);
        const std::int64_t moved = static_cast<std::int64_t>(d) + static_cast<std::int64_t>(at - dst);
        if (!fits32(moved)) return -1;
        const auto d2 = static_cast<std::int32_t>(moved);
        std::memcpy(to + out + i.rel_at, &d2, 4);
      }
      out += i.len;
    } else {
      const std::uintptr_t goal = i.target(at);
      if (goal >= src0 && goal < src0 + span) return -1;  // into the moved bytes
      if (i.kind == Kind::jmp8 || i.kind == Kind::jmp32) {
        write_abs_jump(to + out, goal);
        out += kAbsJumpLen;
        in += i.len;
        ends = true;
        break;
      }
      // A conditional branch: 0f 8x rel32 from its new place.
      const std::uint8_t cc = from[in + i.rel_at - 1] & 0x0f;  // the opcode's, past any prefix
      const std::int64_t rel = static_cast<std::int64_t>(goal) - static_cast<std::int64_t>(dst + 6);
      if (!fits32(rel)) return -1;
      to[out] = 0x0f;
      to[out + 1] = static_cast<std::uint8_t>(0x80 | cc);
      const auto r32 = static_cast<std::int32_t>(rel);
      std::memcpy(to + out + 2, &r32, 4);
      out += 6;
    }
    in += i.len;
  }
  taken = in;
  return static_cast<int>(out);
}

bool no_branch_into(const std::uint8_t* start, std::size_t size, std::size_t prefix) noexcept {
  const auto lo = reinterpret_cast<std::uintptr_t>(start);
  for (std::size_t off = 0; off < size;) {
    const Insn i = decode(start + off);
    if (i.kind == Kind::unknown) return false;
    if (i.kind == Kind::jcc8 || i.kind == Kind::jmp8 || i.kind == Kind::jcc32 || i.kind == Kind::jmp32) {
      const std::uintptr_t goal = i.target(lo + off);
      if (goal > lo && goal < lo + prefix) return false;
    }
    off += i.len;
  }
  return true;
}

}  // namespace green::shim::x86
