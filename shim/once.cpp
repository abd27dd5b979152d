// pthread_once for greenlets, with glibc's encoding of the control word (0 = not run,
// 1 = running, 2 = done; glibc keeps a fork generation in the upper bits, which we leave
// at zero), so a real thread's glibc pthread_once sees the same state. A greenlet that
// finds another one inside the init routine parks until it is done.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

#include <atomic>

#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {
constexpr int kRunning = 1;
constexpr int kDone = 2;
constexpr std::int64_t kPollNs = 1000000;
struct OnceWaiters {
  gd::WaitQueue q;
};
gd::WaitQueue& once_waiters() { return gd::Hub::current().local<OnceWaiters>().q; }
}  // namespace

namespace std {
// libstdc++ hands std::call_once's callable to its pthread_once routine through these
// thread_local variables, which the API greenlets of a hub share (<mutex>, __once_proxy).
extern __thread void* __once_callable;
extern __thread void (*__once_call)();
}  // namespace std

GREEN_HOOK(int, pthread_once, (pthread_once_t* once, void (*init)(void))) {
  GREEN_COOPERATE(pthread_once, once, init);
  // Another greenlet's std::call_once may overwrite (or clear) them while we park: keep
  // ours, and put them back before running the routine.
  void* const callable = std::__once_callable;
  void (*const call)() = std::__once_call;
  auto& word = *reinterpret_cast<std::atomic<int>*>(once);
  for (;;) {
    int v = word.load(std::memory_order_acquire);
    if (v == kDone) return 0;
    if (v == 0 && word.compare_exchange_strong(v, kRunning, std::memory_order_acquire)) break;
    // Running elsewhere: a greenlet's completion wakes us; a real thread's is polled.
    gd::wait_on_nothrow(once_waiters(), gd::now_ns() + kPollNs, gd::kUninterruptible);
  }
  try {
    std::__once_callable = callable;
    std::__once_call = call;
    init();
  } catch (...) {
    // An init routine left by unwinding (cancellation) leaves the once un-run (POSIX).
    word.store(0, std::memory_order_release);
    once_waiters().notify_all();
    throw;
  }
  word.store(kDone, std::memory_order_release);
  REAL(syscall)(SYS_futex, once, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
  once_waiters().notify_all();
  return 0;
}
