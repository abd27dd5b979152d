// Process hooks: waiting for children parks the greenlet, not the OS thread. fork keeps
// its POSIX meaning (the child has one thread, the one that forked: the others vanish, see
// threads_after_fork), and runs on the OS thread's own TCB: glibc's clean-up in the child
// unlinks THREAD_SELF from its list of threads, where a greenlet thread's TCB never was.
//
// waitpid for one child waits on a pidfd (pidfd_open, Linux 5.3+), which becomes readable
// when the child ends; waits for any child poll with WNOHANG, backing off from 1 ms to
// 20 ms. Departure from POSIX: the polled form notices a child's end up to 20 ms late.
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>

#include "io_wait.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(REAL(syscall)(SYS_pidfd_open, pid, 0, 0, 0, 0, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Calls `check` (a WNOHANG form) until it reports something, parking in between.
template <class Check>
auto wait_child(gd::Hub* hub, pid_t pid, Check check) -> decltype(check()) {
  const int pidfd = pid > 0 ? pidfd_open(pid) : -1;
  std::int64_t backoff = 1000000;
  for (;;) {
    const auto r = check();
    if (r != 0) {
      if (pidfd >= 0) REAL(close)(pidfd);
      return r;
    }
    const gd::ParkPolicy policy{true, gd::Eintr::unless_restart};
    gd::Wake w;
    if (pidfd >= 0) {
      const int fds[1] = {pidfd};
      const int ev[1] = {1};
      w = hub->wait_fds(fds, ev, 1, gd::kNoDeadline, policy);
    } else {
      w = hub->park(gd::now_ns() + backoff, policy);
      backoff = std::min<std::int64_t>(backoff * 2, 20000000);
    }
    if (w == gd::Wake::signaled || w == gd::Wake::interrupted) {
      if (pidfd >= 0) REAL(close)(pidfd);
      errno = wake_errno(w, 0);
      return -1;
    }
  }
}

}  // namespace

GREEN_HOOK(pid_t, waitpid, (pid_t pid, int* status, int options)) {
  gd::Hub* hub = green_context();
  if (hub == nullptr || (options & WNOHANG)) return REAL(waitpid)(pid, status, options);
  return wait_child(hub, pid, [&] { return REAL(waitpid)(pid, status, options | WNOHANG); });
}

GREEN_HOOK(pid_t, wait, (int* status)) { return waitpid(-1, status, 0); }

// posix_spawn's child (also system()'s and popen()'s, which spawn through it inside glibc)
// runs in the parent's memory and TLS until it execs, as a vfork child does: with the hooks
// off, so that its closes and signal calls leave the parent's fd table and signal state
// alone. The parent waits in the kernel only until the child has exec'd.
GREEN_HOOK(int, posix_spawn, (pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                              const posix_spawnattr_t* attr, char* const argv[], char* const envp[])) {
  GREEN_BOOKKEEPING();
  gd::NoHooks off;
  return REAL(posix_spawn)(pid, path, actions, attr, argv, envp);
}

GREEN_HOOK(int, posix_spawnp, (pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                               const posix_spawnattr_t* attr, char* const argv[], char* const envp[])) {
  GREEN_BOOKKEEPING();
  gd::NoHooks off;
  return REAL(posix_spawnp)(pid, file, actions, attr, argv, envp);
}

// The program's atfork handlers run on the OS thread's TCB too (they see its TLS).
GREEN_HOOK(pid_t, fork, ()) {
  GREEN_BOOKKEEPING();
  return on_os_thread_tcb([] { return REAL(fork)(); });
}

GREEN_HOOK(pid_t, _Fork, ()) {
  GREEN_BOOKKEEPING();
  const pid_t pid = on_os_thread_tcb([] { return REAL(_Fork)(); });
  if (pid == 0) child_after_fork();  // _Fork runs no atfork handler, ours included
  return pid;
}

GREEN_HOOK(int, waitid, (idtype_t type, id_t id, siginfo_t* info, int options)) {
  gd::Hub* hub = green_context();
  if (hub == nullptr || (options & WNOHANG) || info == nullptr) return REAL(waitid)(type, id, info, options);
  const pid_t pid = type == P_PID ? static_cast<pid_t>(id) : -1;
  return wait_child(hub, pid, [&]() -> int {
    info->si_pid = 0;
    const int r = REAL(waitid)(type, id, info, options | WNOHANG);
    if (r < 0) return -1;
    return info->si_pid != 0 ? 1 : 0;  // 0: nothing yet
  }) < 0 ? -1 : 0;
}

// vfork: the child borrows the parent's memory, TLS included, until it execs or exits, so
// whatever a hook did there would change the parent's books (its signal masks and
// handlers, its fd table). The child runs with the hooks off (tls_no_hooks raised in the
// TLS they share), and the parent, resumed, lowers it again. Written in assembly as glibc's
// is: a C function cannot return twice from one frame. Its system call is made with the
// system-call trap paused (syscall_trap.cpp): greenshim's own calls never trap.
extern "C" __attribute__((visibility("hidden"), used)) long green_vfork_failed(long r) {
  errno = static_cast<int>(-r);
  return -1;
}

// Its own system call must not trap (syscall_trap.cpp): the switch lets calls through
// until the hub's next poll.
extern "C" __attribute__((visibility("hidden"), used)) void green_vfork_untrapped() {
  if (gd::Hub* hub = gd::Hub::current_if_exists()) *hub->syscall_switch() = gd::Hub::kSyscallsPass;
}

asm(R"(
  .text
  .globl vfork
  .type vfork, @function
vfork:
  subq $8, %rsp
  call green_vfork_untrapped
  addq $8, %rsp
  popq %rdi
  movl $58, %eax
  syscall
  pushq %rdi
  movq _ZN5green6detail12tls_no_hooksE@gottpoff(%rip), %rcx
  testq %rax, %rax
  jne 1f
  incl %fs:(%rcx)
  ret
1:
  cmpq $-4095, %rax
  jae 2f
  decl %fs:(%rcx)
  ret
2:
  movq %rax, %rdi
  jmp green_vfork_failed
  .size vfork, .-vfork
)");
