// System calls that other libraries make with their own `syscall` instruction (liburing's
// io_uring_enter, a program's inline assembly) cooperate too: Syscall User Dispatch
// (Linux 5.11+) makes every system call from outside glibc's code trap with SIGSYS on a
// hub's OS thread, where greenshim's handler takes it.
//
//  - glibc's own calls never trap: its code is the dispatch's allowed range, and every
//    hook reaches the kernel through it (REAL, or libc's syscall()). So do greenshim's own
//    calls, the hub's, and real threads' (the dispatch is per OS thread, and a new thread
//    starts without it). A trap costs about 12 µs: it is the catch-all, never the hot path.
//  - In a greenlet, a call that can wait (reads and writes, the socket calls,
//    poll/select/epoll, sleeps, wait4, futex, io_uring_enter) is made through its hook in
//    the greenlet's own context: the handler points the interrupted
//    context at a stub (saving_stub.hpp) that runs it once the handler has returned, so it
//    parks the thread, not the hub, and resumes after the `syscall` instruction with the
//    result in %rax. io_uring_enter with IORING_ENTER_GETEVENTS submits, then waits for
//    the completions it asks for by polling the ring's fd.
//  - Any other call, and every call where no greenlet runs (the hub, the hooks off) or
//    that a signal handler of the program makes, is made by the handler itself with the
//    same arguments: it blocks as it would have, and returns the same.
//  - clone, fork and vfork cannot be made from a handler: the instruction runs again with
//    the dispatch off until the hub next polls.
//
// GREEN_TRAP_SYSCALLS=0 leaves system calls alone; where the kernel refuses the dispatch,
// GREEN_VERBOSE=1 says so once.
#include <linux/audit.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include <cstdio>
#include <cstring>

#include "config.hpp"
#include "hook.hpp"
#include "libc_entry.hpp"
#include "saving_stub.hpp"
#include "signal_state.hpp"
#include "syscall_trap.hpp"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif

namespace gd = green::detail;

extern "C" {
__attribute__((visibility("hidden"), tls_model("initial-exec"))) __thread std::uintptr_t green_trapped_pc = 0;
__attribute__((visibility("hidden"), used)) void green_trapped_call(long* regs);
void green_trapped_stub();
}

asm(GREEN_SAVING_STUB(green_trapped_stub, green_trapped_pc, green_trapped_call));

namespace green::shim {

namespace {

// What a hook returns (-1 and errno) as the kernel returns it (-errno).
long raw(long r) { return r == -1 ? -errno : r; }

long direct(long nr, const long* a) {
  const int saved = errno;
  const long r = raw(REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
  errno = saved;
  return r;
}

}  // namespace

bool cooperative_syscall(long nr) noexcept {
  switch (nr) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_recvfrom: case SYS_sendto:
    case SYS_recvmsg: case SYS_sendmsg: case SYS_accept: case SYS_accept4: case SYS_connect: case SYS_poll:
    case SYS_ppoll: case SYS_select: case SYS_pselect6: case SYS_epoll_wait: case SYS_epoll_pwait:
    case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_wait4: case SYS_futex: case SYS_io_uring_enter:
      return true;
    default:
      return false;
  }
}

namespace {

// io_uring_enter(fd, to_submit, min_complete, flags, argp, argsz) that waits: submit, then
// look for min_complete completions without waiting in the kernel (a zero timeout through
// IORING_ENTER_EXT_ARG), parking on the ring's fd (readable while completions are there)
// until they are.
long uring_enter(const long* a) {
  const int fd = static_cast<int>(a[0]);
  const auto to_submit = static_cast<unsigned>(a[1]);
  const auto min_complete = static_cast<unsigned>(a[2]);
  const auto flags = static_cast<unsigned>(a[3]);
  if (!(flags & IORING_ENTER_GETEVENTS) || min_complete == 0 || (flags & IORING_ENTER_REGISTERED_RING)) {
    return direct(SYS_io_uring_enter, a);
  }
#ifdef IORING_ENTER_ABS_TIMER
  if (flags & IORING_ENTER_ABS_TIMER) return direct(SYS_io_uring_enter, a);  // an absolute deadline: as it is
#endif
  io_uring_getevents_arg arg{};
  gd::Deadline deadline = gd::kNoDeadline;
  if (flags & IORING_ENTER_EXT_ARG) {
    if (a[4] == 0 || static_cast<std::size_t>(a[5]) != sizeof arg) return direct(SYS_io_uring_enter, a);
    arg = *reinterpret_cast<const io_uring_getevents_arg*>(a[4]);
    if (arg.ts != 0) {
      const auto* ts = reinterpret_cast<const __kernel_timespec*>(arg.ts);
      const std::int64_t max_s = (INT64_MAX - gd::now_ns()) / 1000000000 - 1;
      deadline = ts->tv_sec >= max_s ? gd::kNoDeadline : gd::now_ns() + ts->tv_sec * 1000000000L + ts->tv_nsec;
    }
  } else if (a[4] != 0) {
    arg.sigmask = static_cast<std::uint64_t>(a[4]);
    arg.sigmask_sz = static_cast<std::uint32_t>(a[5]);
  }
  const unsigned base = flags & ~(IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG);
  long submitted = 0;
  if (to_submit > 0) {
    const long s[6] = {fd, to_submit, 0, base, 0, 0};
    submitted = direct(SYS_io_uring_enter, s);
    // The kernel returns at once when it could not submit everything: so does this.
    if (submitted < 0 || submitted < static_cast<long>(to_submit)) return submitted;
  }
  __kernel_timespec zero{};
  arg.ts = reinterpret_cast<std::uint64_t>(&zero);
  const long w[6] = {fd, 0, min_complete, static_cast<long>(base | IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG),
                     reinterpret_cast<long>(&arg), sizeof arg};
  for (;;) {
    const long r = direct(SYS_io_uring_enter, w);
    // As the kernel: what was submitted, even when the wait then failed.
    if (r != -ETIME) return r < 0 && submitted == 0 ? r : submitted;
    const std::int64_t left = deadline == gd::kNoDeadline ? -1 : deadline - gd::now_ns();
    if (deadline != gd::kNoDeadline && left <= 0) return submitted > 0 ? submitted : -ETIME;
    pollfd p{fd, POLLIN, 0};
    // A ring with fewer completions than asked is readable already: wait a little then.
    const int ready = ::poll(&p, 1, 0);
    const int ms = ready > 0 ? 1 : (left < 0 ? -1 : static_cast<int>((left + 999999) / 1000000));
    const long pr = raw(::poll(&p, ready > 0 ? 0 : 1, ms));
    if (pr == -EINTR) return submitted > 0 ? submitted : -EINTR;
  }
}

}  // namespace

long cooperative_call(long nr, const long* a) {
  const int saved = errno;
  // A system call made by number is no cancellation point, though its hook's is.
  int cancel_was = PTHREAD_CANCEL_DISABLE;
  ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_was);
  long r;
  switch (nr) {
    case SYS_read: r = raw(::read(static_cast<int>(a[0]), reinterpret_cast<void*>(a[1]), a[2])); break;
    case SYS_write: r = raw(::write(static_cast<int>(a[0]), reinterpret_cast<const void*>(a[1]), a[2])); break;
    case SYS_readv:
      r = raw(::readv(static_cast<int>(a[0]), reinterpret_cast<const iovec*>(a[1]), static_cast<int>(a[2])));
      break;
    case SYS_writev:
      r = raw(::writev(static_cast<int>(a[0]), reinterpret_cast<const iovec*>(a[1]), static_cast<int>(a[2])));
      break;
    case SYS_recvfrom:
      r = raw(::recvfrom(static_cast<int>(a[0]), reinterpret_cast<void*>(a[1]), a[2], static_cast<int>(a[3]),
                         reinterpret_cast<sockaddr*>(a[4]), reinterpret_cast<socklen_t*>(a[5])));
      break;
    case SYS_sendto:
      r = raw(::sendto(static_cast<int>(a[0]), reinterpret_cast<const void*>(a[1]), a[2], static_cast<int>(a[3]),
                       reinterpret_cast<const sockaddr*>(a[4]), static_cast<socklen_t>(a[5])));
      break;
    case SYS_recvmsg:
      r = raw(::recvmsg(static_cast<int>(a[0]), reinterpret_cast<msghdr*>(a[1]), static_cast<int>(a[2])));
      break;
    case SYS_sendmsg:
      r = raw(::sendmsg(static_cast<int>(a[0]), reinterpret_cast<const msghdr*>(a[1]), static_cast<int>(a[2])));
      break;
    case SYS_accept:
      r = raw(::accept(static_cast<int>(a[0]), reinterpret_cast<sockaddr*>(a[1]), reinterpret_cast<socklen_t*>(a[2])));
      break;
    case SYS_accept4:
      r = raw(::accept4(static_cast<int>(a[0]), reinterpret_cast<sockaddr*>(a[1]),
                        reinterpret_cast<socklen_t*>(a[2]), static_cast<int>(a[3])));
      break;
    case SYS_connect:
      r = raw(::connect(static_cast<int>(a[0]), reinterpret_cast<const sockaddr*>(a[1]), static_cast<socklen_t>(a[2])));
      break;
    case SYS_poll:
      r = raw(::poll(reinterpret_cast<pollfd*>(a[0]), static_cast<nfds_t>(a[1]), static_cast<int>(a[2])));
      break;
    case SYS_ppoll:
      // The kernel's ppoll takes a sigset size; glibc's wrapper passes _NSIG/8 itself.
      r = raw(::ppoll(reinterpret_cast<pollfd*>(a[0]), static_cast<nfds_t>(a[1]),
                      reinterpret_cast<const timespec*>(a[2]), reinterpret_cast<const sigset_t*>(a[3])));
      break;
    case SYS_select:
      r = raw(::select(static_cast<int>(a[0]), reinterpret_cast<fd_set*>(a[1]), reinterpret_cast<fd_set*>(a[2]),
                       reinterpret_cast<fd_set*>(a[3]), reinterpret_cast<timeval*>(a[4])));
      break;
    case SYS_epoll_wait:
      r = raw(::epoll_wait(static_cast<int>(a[0]), reinterpret_cast<epoll_event*>(a[1]), static_cast<int>(a[2]),
                           static_cast<int>(a[3])));
      break;
    case SYS_epoll_pwait:
      r = raw(::epoll_pwait(static_cast<int>(a[0]), reinterpret_cast<epoll_event*>(a[1]), static_cast<int>(a[2]),
                            static_cast<int>(a[3]), reinterpret_cast<const sigset_t*>(a[4])));
      break;
    case SYS_nanosleep:
      r = raw(::nanosleep(reinterpret_cast<const timespec*>(a[0]), reinterpret_cast<timespec*>(a[1])));
      break;
    case SYS_clock_nanosleep:
      // Returns the error itself, as the kernel's -errno less the sign.
      r = -::clock_nanosleep(static_cast<clockid_t>(a[0]), static_cast<int>(a[1]),
                             reinterpret_cast<const timespec*>(a[2]), reinterpret_cast<timespec*>(a[3]));
      break;
    case SYS_wait4:
      if (a[3] != 0) {  // rusage wanted: only the kernel has it
        r = direct(nr, a);
      } else {
        r = raw(::waitpid(static_cast<pid_t>(a[0]), reinterpret_cast<int*>(a[1]), static_cast<int>(a[2])));
      }
      break;
    case SYS_futex: r = raw(::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5])); break;
    case SYS_io_uring_enter: r = uring_enter(a); break;
    default: r = direct(nr, a); break;
  }
  ::pthread_setcancelstate(cancel_was, nullptr);
  errno = saved;
  return r;
}

void start_syscall_trap(gd::Hub& hub) noexcept {
  const gd::Config& cfg = gd::config();
  if (!cfg.trap_syscalls || hub.syscall_trap_on() || !gd::Hub::stub_usable()) return;
  std::uintptr_t lo = 0, hi = 0;  // glibc's code: where calls may come from without trapping
  if (!code_segment(libc_code(), lo, hi)) return;
  keep_trampoline(SIGSYS);
  volatile char* sw = hub.syscall_switch();
  *sw = gd::Hub::kSyscallsTrap;
  if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, lo, hi - lo, sw) != 0) {
    *sw = gd::Hub::kSyscallsPass;
    static bool said = false;
    if (cfg.verbose && !said) {
      said = true;
      std::fprintf(stderr, "greenshim: system calls made outside glibc stay unhooked (no Syscall User Dispatch: %s)\n",
                   std::strerror(errno));
    }
    return;
  }
  hub.syscall_trap_started();
}

bool syscall_trapped(siginfo_t* info, void* uctx) noexcept {
  if (info->si_code != SYS_USER_DISPATCH) return false;
  auto& g = static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs;
  const long nr = g[REG_RAX];
  const long a[6] = {g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9]};
  // int $0x80 (i386 numbers) and the calls that cannot be made from a handler run again,
  // untrapped (both instructions are 2 bytes long).
  if (info->si_arch != AUDIT_ARCH_X86_64 || nr == SYS_clone || nr == SYS_clone3 || nr == SYS_fork ||
      nr == SYS_vfork || nr == SYS_rt_sigreturn) {
    if (gd::Hub* hub = gd::Hub::current_if_exists()) *hub->syscall_switch() = gd::Hub::kSyscallsPass;
    g[REG_RIP] -= 2;  // again, untrapped: the hub's next poll traps again
    return true;
  }
  gd::Hub* here = green_context();
  if (cooperative_syscall(nr) && here != nullptr && tls_program_handler == 0) {
    green_trapped_pc = static_cast<std::uintptr_t>(g[REG_RIP]);
    g[REG_RIP] = reinterpret_cast<greg_t>(&green_trapped_stub);
    return true;
  }
  g[REG_RAX] = direct(nr, a);
  return true;
}

}  // namespace green::shim

void green_trapped_call(long* regs) {
  using namespace green::detail;
  const long a[6] = {regs[kSavedRdi], regs[kSavedRsi], regs[kSavedRdx], regs[kSavedR10], regs[kSavedR8], regs[kSavedR9]};
  regs[kSavedRax] = green::shim::cooperative_call(regs[kSavedRax], a);
}
