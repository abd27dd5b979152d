// bench/syscalls: what each road into a hook costs, against the plain system call measured
// in the same run. The call is a 1-byte read of an empty socket the program made
// non-blocking, which says EAGAIN: a hook's whole path (bypass test, fd lookup, the real
// call, the program's own O_NONBLOCK honoured) that never waits.
//   plain:          the `syscall` instruction, before green::patch_all()
//   hooked symbol:  read() through the PLT (every hooked call a program makes)
//   patched entry:  __read(), glibc's internal name, whose rerouted entry jumps to the hook
//                   (stdio's reads take this road)
//   trap:           the `syscall` instruction again, trapped by Syscall User Dispatch and
//                   made through the hook (liburing's road)
// The last three run in a greenlet thread (pthread_create after patch_all).
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <green/patch.hpp>

extern "C" ssize_t __read(int, void*, size_t);

namespace {

using Clock = std::chrono::steady_clock;

long raw_read(int fd, void* buf, long n) {
  long r;
  register long rdi asm("rdi") = fd;
  register void* rsi asm("rsi") = buf;
  register long rdx asm("rdx") = n;
  asm volatile("syscall" : "=a"(r) : "a"(static_cast<long>(SYS_read)), "r"(rdi), "r"(rsi), "r"(rdx) : "rcx", "r11", "memory");
  return r;
}

template <class F>
double best_ns(long ops, F&& call) {
  double best = 1e300;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = Clock::now();
    for (long i = 0; i < ops; ++i) call();
    best = std::min(best, std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops);
  }
  return best;
}

int sv[2];
char byte;
double plain, hooked, patched, trapped;

void* measure_in_a_greenlet_thread(void* ops) {
  const long n = *static_cast<long*>(ops);
  hooked = best_ns(n, [] { ::read(sv[0], &byte, 1); });
  patched = best_ns(n, [] { __read(sv[0], &byte, 1); });
  trapped = best_ns(n / 20, [] { raw_read(sv[0], &byte, 1); });
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  long ops = std::max(100L, static_cast<long>(200000 * scale));
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return 1;
  plain = best_ns(ops, [] { raw_read(sv[0], &byte, 1); });
  green::patch_all();
  pthread_t t;
  if (pthread_create(&t, nullptr, measure_in_a_greenlet_thread, &ops) != 0) return 1;
  pthread_join(t, nullptr);
  std::printf("%-44s %12s %10s\n", "read of an empty non-blocking socket, by road", "ns/call", "x plain");
  std::printf("%-44s %12.1f %10.2f\n", "plain syscall instruction", plain, 1.0);
  std::printf("%-44s %12.1f %10.2f\n", "hooked symbol (read via the PLT)", hooked, hooked / plain);
  std::printf("%-44s %12.1f %10.2f\n", "patched glibc entry (__read)", patched, patched / plain);
  std::printf("%-44s %12.1f %10.2f\n", "trapped syscall instruction", trapped, trapped / plain);
  return 0;
}
