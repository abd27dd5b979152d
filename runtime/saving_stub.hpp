// The asm of a function that a signal handler makes the interrupted code "call" once the
// handler has returned (by pointing the context's %rip at it, the interrupted address kept
// in the TLS word `pc`): it saves every register (the vector state by XSAVE), calls
// `point(regs)` in the interrupted code's own context, where it may switch greenlets, and
// resumes at the interrupted address with every register as `point` left it in `regs`.
//
// regs (long*): rbx, r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, rflags (SavedReg).
// The red zone (128 bytes below %rsp, which leaf code may use) is left alone: the stub
// returns with `ret $128` and %rsp as it was. Its unwind table leads to the interrupted
// instruction (a signal frame), so a forced unwind from `point` goes through it.
// `green_xsave_size` (hub_preempt.cpp) is how much XSAVE writes.
#pragma once

namespace green::detail {

enum SavedReg { kSavedRbx, kSavedR11, kSavedR10, kSavedR9, kSavedR8, kSavedRdi, kSavedRsi, kSavedRdx,
                kSavedRcx, kSavedRax, kSavedFlags };

}  // namespace green::detail

#define GREEN_SAVING_STUB(stub, pc, point)                                                      \
  "  .text\n  .p2align 4\n  .type " #stub ", @function\n" #stub ":\n"                           \
  "  .cfi_startproc\n  .cfi_signal_frame\n"                                                     \
  "  leaq -136(%rsp), %rsp\n  pushq %rax\n"                                                     \
  "  movq " #pc "@gottpoff(%rip), %rax\n  movq %fs:(%rax), %rax\n  movq %rax, 8(%rsp)\n"       \
  "  popq %rax\n  pushfq\n  pushq %rax\n  pushq %rcx\n  pushq %rdx\n  pushq %rsi\n"             \
  "  pushq %rdi\n  pushq %r8\n  pushq %r9\n  pushq %r10\n  pushq %r11\n  pushq %rbx\n"         \
  "  movq %rsp, %rbx\n"                                                                         \
  /* The caller's %rsp (the CFA) is %rbx + 224, its return address (the interrupted   */      \
  /* instruction, exact: a signal frame) at CFA - 136, %rbx saved at CFA - 224.          */     \
  "  .cfi_def_cfa %rbx, 224\n  .cfi_offset %rip, -136\n  .cfi_offset %rbx, -224\n"             \
  "  subq green_xsave_size(%rip), %rsp\n  andq $-64, %rsp\n  xorl %eax, %eax\n"                \
  "  movq %rax, 512(%rsp)\n  movq %rax, 520(%rsp)\n  movq %rax, 528(%rsp)\n"                   \
  "  movq %rax, 536(%rsp)\n  movq %rax, 544(%rsp)\n  movq %rax, 552(%rsp)\n"                   \
  "  movq %rax, 560(%rsp)\n  movq %rax, 568(%rsp)\n"                                            \
  "  movl $-1, %eax\n  movl $-1, %edx\n  xsave64 (%rsp)\n  cld\n"                               \
  "  movq %rbx, %rdi\n  call " #point "\n"                                                      \
  "  movl $-1, %eax\n  movl $-1, %edx\n  xrstor64 (%rsp)\n  movq %rbx, %rsp\n"                 \
  "  popq %rbx\n  popq %r11\n  popq %r10\n  popq %r9\n  popq %r8\n  popq %rdi\n  popq %rsi\n"   \
  "  popq %rdx\n  popq %rcx\n  popq %rax\n  popfq\n  ret $128\n"                               \
  "  .cfi_endproc\n  .size " #stub ", .-" #stub "\n"
