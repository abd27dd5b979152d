// Just enough x86-64 decoding to move a function's first instructions elsewhere
// (libc_entry.cpp): the length of an instruction and what in it depends on where it is.
// Anything outside the subset that compilers emit in syscall wrappers is `unknown`, and the
// caller then leaves that function alone.
#pragma once

#include <cstddef>
#include <cstdint>

namespace green::shim::x86 {

struct Insn {
  enum class Kind : std::uint8_t {
    unknown,
    plain,     // position-independent
    rip_rel,   // a disp32 from the next instruction's address, at `rel_at`
    jcc8,      // 7x rel8
    jmp8,      // eb rel8
    jcc32,     // 0f 8x rel32
    jmp32,     // e9 rel32
    call32,    // e8 rel32
    ret,
  };
  Kind kind = Kind::unknown;
  std::uint8_t len = 0;
  std::uint8_t rel_at = 0;  // offset of the disp32/rel field (rip_rel, jcc*, jmp*, call32)
  // Where a relative branch goes (jcc*, jmp*, call32), for an instruction at `at`.
  std::uintptr_t target(std::uintptr_t at) const noexcept;
};

Insn decode(const std::uint8_t* p) noexcept;

// Copies the instructions at `from` that cover at least `min` bytes to `to` (capacity
// `room`), rewritten to behave the same there: RIP-relative operands and relative branches
// are re-aimed (both places must lie within ±2 GiB of what they reach), short branches
// become long ones, and an unconditional jump becomes an absolute one. Returns the bytes
// written and sets `taken` to the bytes of `from` consumed, or returns -1 when the code
// cannot be moved: an unknown instruction, a return or call among them, a branch into
// what is moved. `ends` is set when the copy ends in an unconditional jump (nothing
// needs to follow it).
int relocate(const std::uint8_t* from, std::size_t min, std::uint8_t* to, std::size_t room, std::size_t& taken,
             bool& ends) noexcept;

// Whether any instruction of the function [start, start+size) branches into
// (start, start+prefix): decoded linearly; false if an instruction is unknown.
bool no_branch_into(const std::uint8_t* start, std::size_t size, std::size_t prefix) noexcept;

// An absolute jump (jmp *0(%rip); .quad target): 14 bytes at `to`.
inline constexpr std::size_t kAbsJumpLen = 14;
void write_abs_jump(std::uint8_t* to, std::uintptr_t target) noexcept;

}  // namespace green::shim::x86
