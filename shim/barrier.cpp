// pthread_barrier_* under the shim, for greenlets and real threads alike (one object to
// both when they share it). pthread_barrier_init allocates the state (there is no static
// initializer) and marks the barrier as ours: a magic word at offset 0, then the state's
// address. A barrier that glibc initialised (before patch_all, or by a library the hooks
// did not see) is taken over at its first wait, while nobody waits in it: glibc's layout
// (nptl/pthread_barrier_init.c: in, current_round, count, shared, out) gives its count.
// Greenlets park on the state's queue; real threads sleep there on a futex word.
//
// A process-shared barrier cannot point into one process: its state is in the object
// itself (another magic word, the count, the arrivals, and a generation that is the futex
// every waiter of every process sleeps on; greenlets through their hub's io_uring). It is
// shared with processes under greenshim, not with one that runs without it.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>

#include "park.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr unsigned kMagic = 0x67626172;  // "gbar": a barrier greenshim initialized

struct BarrierState {
  gd::SpinLock lock;  // greenlets and real threads alike, a few instructions
  unsigned count;
  unsigned arrived = 0;
  unsigned long generation = 0;
  unsigned leaving = 0;  // released waiters that have not yet returned (destroy waits)
  gd::WaitQueue waiters;
};

struct OurBarrier {
  unsigned magic;
  BarrierState* state;
};
static_assert(sizeof(OurBarrier) <= sizeof(pthread_barrier_t));

// A process-shared one, all in the object.
constexpr unsigned kSharedMagic = 0x67627273;  // "gbrs"
struct SharedBarrier {
  unsigned magic;
  unsigned count;
  unsigned arrived;
  std::uint32_t generation;  // the futex word
  unsigned leaving;          // released waiters that have not yet returned
};
static_assert(sizeof(SharedBarrier) <= sizeof(pthread_barrier_t));
SharedBarrier* shared_view(pthread_barrier_t* b) {
  auto* s = reinterpret_cast<SharedBarrier*>(b);
  return s->magic == kSharedMagic ? s : nullptr;
}

// glibc's own barrier (glibc 2.25 and later).
struct GlibcBarrier {
  unsigned in;
  unsigned current_round;
  unsigned count;
  int shared;
  unsigned out;
};
static_assert(sizeof(GlibcBarrier) <= sizeof(pthread_barrier_t));

OurBarrier* view(pthread_barrier_t* b) { return reinterpret_cast<OurBarrier*>(b); }

BarrierState* ours(pthread_barrier_t* b) {
  OurBarrier* o = view(b);
  return o->magic == kMagic ? o->state : nullptr;
}

int make_ours(pthread_barrier_t* b, unsigned count) {
  auto* s = new (std::nothrow) BarrierState;
  if (s == nullptr) return ENOMEM;
  s->count = count;
  std::memset(b, 0, sizeof *b);
  view(b)->magic = kMagic;
  view(b)->state = s;
  return 0;
}

// Takes over a barrier glibc initialised, if nobody is inside it; else nullptr. One
// taker at a time: two first waiters must not make two states.
gd::SpinLock adopt_lock;
BarrierState* adopt(pthread_barrier_t* b) {
  std::lock_guard<gd::SpinLock> hold(adopt_lock);
  if (BarrierState* s = ours(b)) return s;
  GlibcBarrier g;
  std::memcpy(&g, b, sizeof g);
  if (g.count == 0 || g.in != g.out) return nullptr;
  return make_ours(b, g.count) == 0 ? ours(b) : nullptr;
}

// Not a cancellation point, and uninterruptible; the one to arrive last may be a real
// thread, so the loop must not call the wait hopeless.
constexpr gd::ParkPolicy kBarrierPolicy{false, gd::Eintr::never, true};

int shared_wait(SharedBarrier* s) {
  std::atomic_ref<std::uint32_t> gen_word(s->generation);
  const std::uint32_t gen = gen_word.load(std::memory_order_acquire);
  if (std::atomic_ref<unsigned>(s->arrived).fetch_add(1, std::memory_order_acq_rel) + 1 == s->count) {
    std::atomic_ref<unsigned>(s->arrived).store(0, std::memory_order_relaxed);
    std::atomic_ref<unsigned>(s->leaving).fetch_add(s->count - 1, std::memory_order_relaxed);
    gen_word.fetch_add(1, std::memory_order_acq_rel);
    REAL(syscall)(SYS_futex, &s->generation, FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  gd::Hub* hub = green_context();
  while (gen_word.load(std::memory_order_acquire) == gen) {
    gd::Wake w = gd::Wake::none;
    if (hub != nullptr) w = hub->futex_wait(&s->generation, gen, true, gd::kNoDeadline, kBarrierPolicy);
    if (w != gd::Wake::none) continue;
    if (hub != nullptr) {
      hub->park(gd::now_ns() + 1000000, kBarrierPolicy);  // no io_uring futex waits: look again
    } else {
      REAL(syscall)(SYS_futex, &s->generation, FUTEX_WAIT, gen, nullptr, nullptr, 0);
    }
  }
  std::atomic_ref<unsigned>(s->leaving).fetch_sub(1, std::memory_order_release);
  return 0;
}

}  // namespace

GREEN_HOOK(int, pthread_barrier_init, (pthread_barrier_t* b, const pthread_barrierattr_t* attr, unsigned count)) {
  GREEN_BOOKKEEPING();
  if (!hooks_active) return REAL(pthread_barrier_init)(b, attr, count);
  if (count == 0) return EINVAL;
  int pshared = PTHREAD_PROCESS_PRIVATE;
  if (attr != nullptr) pthread_barrierattr_getpshared(attr, &pshared);
  if (pshared == PTHREAD_PROCESS_SHARED) {
    std::memset(b, 0, sizeof *b);
    auto* s = reinterpret_cast<SharedBarrier*>(b);
    s->count = count;
    s->magic = kSharedMagic;
    return 0;
  }
  return make_ours(b, count);
}

GREEN_HOOK(int, pthread_barrier_wait, (pthread_barrier_t* b)) {
  if (!sync_objects_ours()) return REAL(pthread_barrier_wait)(b);
  if (SharedBarrier* sb = shared_view(b)) return shared_wait(sb);
  BarrierState* s = ours(b);
  if (s == nullptr) s = adopt(b);
  if (s == nullptr) return REAL(pthread_barrier_wait)(b);
  std::unique_lock<gd::SpinLock> hold(s->lock);
  if (++s->arrived == s->count) {
    s->arrived = 0;
    ++s->generation;
    s->leaving += s->count - 1;
    s->waiters.notify_all();
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  const unsigned long gen = s->generation;
  while (s->generation == gen) wait_locked(s->waiters, gd::kNoDeadline, s->lock, kBarrierPolicy);
  --s->leaving;  // the last touch: the serial thread may destroy the barrier now
  return 0;
}

GREEN_HOOK(int, pthread_barrier_destroy, (pthread_barrier_t* b)) {
  GREEN_BOOKKEEPING();
  if (SharedBarrier* sb = shared_view(b)) {
    if (std::atomic_ref<unsigned>(sb->arrived).load() != 0) return EBUSY;
    // As below: the waiters the last arrival released may still be on their way out.
    while (std::atomic_ref<unsigned>(sb->leaving).load(std::memory_order_acquire) > 0) {
      if (gd::Hub* hub = green_context()) {
        hub->yield();
      } else {
        REAL(sched_yield)();
      }
    }
    std::memset(b, 0, sizeof *b);
    return 0;
  }
  BarrierState* s = ours(b);
  if (s == nullptr) return REAL(pthread_barrier_destroy)(b);
  std::unique_lock<gd::SpinLock> hold(s->lock);
  if (s->arrived != 0) return EBUSY;
  // As glibc's, destroy right after the serial thread's return is allowed: the others it
  // released may not have left yet, and they run as soon as we let them.
  while (s->leaving > 0) {
    hold.unlock();
    if (gd::Hub* hub = green_context()) {
      hub->yield();
    } else {
      REAL(sched_yield)();
    }
    hold.lock();
  }
  hold.unlock();
  delete s;
  std::memset(b, 0, sizeof *b);
  return 0;
}
