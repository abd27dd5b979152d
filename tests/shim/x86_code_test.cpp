// shim/x86_code.cpp: lengths and relocation of the instructions glibc's syscall wrappers
// begin with (bytes as objdump shows them in Debian 12's libc), and the refusals that keep
// libc_entry.cpp from moving what it cannot.
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "../../shim/x86_code.hpp"

using namespace green::shim::x86;
using Kind = Insn::Kind;

namespace {

Insn at(std::vector<std::uint8_t> bytes) {
  bytes.resize(16, 0x90);
  return decode(bytes.data());
}

}  // namespace

TEST(X86Code, LengthsOfWrapperInstructions) {
  EXPECT_EQ(at({0x80, 0x3d, 0x31, 0x33, 0x0e, 0x00, 0x00}).len, 7);  // cmpb $0,x(%rip)
  EXPECT_EQ(at({0x80, 0x3d, 0x31, 0x33, 0x0e, 0x00, 0x00}).kind, Kind::rip_rel);
  EXPECT_EQ(at({0x41, 0x89, 0xca}).len, 3);                          // mov %ecx,%r10d
  EXPECT_EQ(at({0x0f, 0x05}).len, 2);                                // syscall
  EXPECT_EQ(at({0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff}).len, 6);        // cmp $-4096,%rax
  EXPECT_EQ(at({0xb8, 0x2d, 0, 0, 0}).len, 5);                       // mov $45,%eax
  EXPECT_EQ(at({0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}).len, 10);       // movabs
  EXPECT_EQ(at({0x48, 0x83, 0xec, 0x28}).len, 4);                    // sub $0x28,%rsp
  EXPECT_EQ(at({0x48, 0x89, 0x54, 0x24, 0x18}).len, 5);              // mov %rdx,0x18(%rsp)
  EXPECT_EQ(at({0x64, 0x89, 0x02}).len, 3);                          // mov %eax,%fs:(%rdx)
  EXPECT_EQ(at({0xf7, 0xd8}).len, 2);                                // neg %eax
  EXPECT_EQ(at({0xf7, 0xc7, 1, 0, 0, 0}).len, 6);                    // test $1,%edi
  EXPECT_EQ(at({0x2e, 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}).len, 10);  // cs nopw
  EXPECT_EQ(at({0xf3, 0x0f, 0x1e, 0xfa}).len, 4);                    // endbr64
  EXPECT_EQ(at({0x74, 0x17}).kind, Kind::jcc8);
  EXPECT_EQ(at({0xe9, 0, 0, 0, 0}).kind, Kind::jmp32);
  EXPECT_EQ(at({0xc3}).kind, Kind::ret);
  EXPECT_EQ(at({0x0f, 0x0d, 0x00}).kind, Kind::unknown);              // prefetch: not known
  EXPECT_EQ(at({0xc4, 0xe2, 0x79, 0x18}).kind, Kind::unknown);        // VEX: not known
}

// read's entry, moved: the RIP-relative compare must still read the same byte.
TEST(X86Code, RelocationKeepsRipRelativeTargets) {
  alignas(16) std::uint8_t src[32] = {0x80, 0x3d, 0x10, 0x00, 0x00, 0x00, 0x00, 0x74, 0x17, 0x31, 0xc0, 0x0f, 0x05};
  alignas(16) std::uint8_t dst[64] = {};
  std::size_t taken = 0;
  bool ends = true;
  const int n = relocate(src, 5, dst, sizeof dst, taken, ends);
  ASSERT_EQ(n, 7);
  EXPECT_EQ(taken, 7u);
  EXPECT_FALSE(ends);
  std::int32_t d;
  std::memcpy(&d, dst + 2, 4);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dst) + 7 + d, reinterpret_cast<std::uintptr_t>(src) + 7 + 0x10);
}

// waitpid's entry: xor, then a jump elsewhere, which becomes an absolute jump that ends it.
TEST(X86Code, RelocationTurnsAJumpIntoAnAbsoluteOne) {
  alignas(16) std::uint8_t src[32] = {0x31, 0xc9, 0xe9, 0x29, 0x00, 0x00, 0x00};
  alignas(16) std::uint8_t dst[64] = {};
  std::size_t taken = 0;
  bool ends = false;
  const int n = relocate(src, 5, dst, sizeof dst, taken, ends);
  ASSERT_EQ(n, 2 + static_cast<int>(kAbsJumpLen));
  EXPECT_TRUE(ends);
  EXPECT_EQ(taken, 7u);
  std::uintptr_t goal;
  std::memcpy(&goal, dst + 2 + 6, 8);
  EXPECT_EQ(goal, reinterpret_cast<std::uintptr_t>(src) + 7 + 0x29);
}

TEST(X86Code, ShortConditionalBranchesBecomeLongOnes) {
  alignas(16) std::uint8_t src[64] = {0x85, 0xc0, 0x74, 0x20, 0x90, 0x90};
  alignas(16) std::uint8_t dst[64] = {};
  std::size_t taken = 0;
  bool ends = false;
  ASSERT_EQ(relocate(src, 5, dst, sizeof dst, taken, ends), 2 + 6 + 1);
  EXPECT_EQ(dst[2], 0x0f);
  EXPECT_EQ(dst[3], 0x84);
  std::int32_t rel;
  std::memcpy(&rel, dst + 4, 4);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dst) + 8 + rel, reinterpret_cast<std::uintptr_t>(src) + 4 + 0x20);
}

// A prefix before a short branch (3e: the branch-taken hint) must not be read as its
// condition; REX.W makes a 66-prefixed immediate 32 bits again.
TEST(X86Code, PrefixesKeepTheirMeaning) {
  alignas(16) std::uint8_t src[64] = {0x3e, 0x75, 0x20, 0x90, 0x90, 0x90};
  alignas(16) std::uint8_t dst[64] = {};
  std::size_t taken = 0;
  bool ends = false;
  ASSERT_GT(relocate(src, 5, dst, sizeof dst, taken, ends), 0);
  EXPECT_EQ(dst[0], 0x0f);
  EXPECT_EQ(dst[1], 0x85);  // jne, not the prefix's low nibble
  EXPECT_EQ(at({0x66, 0x48, 0x81, 0xc0, 1, 2, 3, 4}).len, 8);  // add $imm32,%rax
  EXPECT_EQ(at({0x66, 0x81, 0xc0, 1, 2}).len, 5);              // add $imm16,%ax
}

TEST(X86Code, RefusesWhatItCannotMove) {
  std::uint8_t dst[64];
  std::size_t taken = 0;
  bool ends = false;
  const std::uint8_t early_ret[16] = {0x31, 0xc0, 0xc3, 0x90, 0x90, 0x90};
  EXPECT_EQ(relocate(early_ret, 5, dst, sizeof dst, taken, ends), -1);
  const std::uint8_t call[16] = {0xe8, 0, 0, 0, 0, 0x90};
  EXPECT_EQ(relocate(call, 5, dst, sizeof dst, taken, ends), -1);
  const std::uint8_t into_itself[16] = {0x74, 0x01, 0x90, 0x90, 0x90, 0x90};  // je to byte 3
  EXPECT_EQ(relocate(into_itself, 5, dst, sizeof dst, taken, ends), -1);
  const std::uint8_t unknown[16] = {0xc4, 0xe2, 0x79, 0x18, 0x00, 0x90};
  EXPECT_EQ(relocate(unknown, 5, dst, sizeof dst, taken, ends), -1);
  // A system call must stay in glibc's code, where the syscall trap lets calls from.
  const std::uint8_t syscall_first[16] = {0x31, 0xc0, 0x0f, 0x05, 0x90, 0x90};
  EXPECT_EQ(relocate(syscall_first, 5, dst, sizeof dst, taken, ends), -1);
}

// A loop back to byte 2 of a function whose first 7 bytes would move.
TEST(X86Code, FindsBranchesIntoTheEntry) {
  const std::uint8_t loop[16] = {0x31, 0xc0, 0x31, 0xc9, 0x31, 0xd2, 0x90, 0x75, 0xf9, 0xc3};
  EXPECT_FALSE(no_branch_into(loop, 10, 7));
  EXPECT_TRUE(no_branch_into(loop, 10, 2));
}
