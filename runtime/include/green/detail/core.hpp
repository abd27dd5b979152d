// The scheduler's contract, as the header-only parts of the API (templates) see it.
//
// Everything that blocks parks through one function, `wait_on(queue, deadline)`: the
// calling greenlet joins a WaitQueue and gives up the CPU until a notify, its deadline,
// an interruption (kill, Timeout) or the loop running dry wakes it. Nothing here knows
// libev or Boost.Context; those stay in runtime/hub.cpp and runtime/fiber.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

// Exports an internal declaration that the library's own tests link against (the hub, the
// stack pool, the settings); everything outside the public headers is hidden otherwise.
#define GREEN_EXPORT __attribute__((visibility("default")))

namespace green {

// All timeouts are std::chrono durations; `forever` (the default everywhere) means none.
using Duration = std::chrono::nanoseconds;
inline constexpr Duration forever = Duration::max();

namespace detail {

// Absolute CLOCK_MONOTONIC time in nanoseconds; durations are converted at the API's edge.
using Deadline = std::int64_t;
inline constexpr Deadline kNoDeadline = INT64_MAX;
std::int64_t now_ns() noexcept;
Deadline deadline_after(Duration d) noexcept;

// Why a parked greenlet runs again.
enum class Wake : std::uint8_t {
  none,
  notified,     // a WaitQueue handed it the turn (or its fd became ready)
  timed_out,    // its own deadline passed
  interrupted,  // an exception (kill, Timeout) is pending for it
  loop_exit,    // nothing can ever wake it: every greenlet is blocked and no watcher is active
  closed,       // the fd it waited on was closed by another greenlet
  signaled,     // a signal handler ran and this wait must report EINTR (the shim decides)
};

class GreenletImpl;

// How a signal handler that runs during a wait ends it (signal(7)): never, always (sleeps,
// polls, sem_wait, sockets with a timeout), or unless it has SA_RESTART (reads, writes).
enum class Eintr : std::uint8_t { never, always, unless_restart };

// What may end a park besides its own wake-up and its deadline.
struct ParkPolicy {
  bool interruptible = true;   // a pending kill, Timeout or cancel (Wake::interrupted)
  Eintr eintr = Eintr::never;  // a signal handler's run (Wake::signaled)
  // Another OS thread may end it (a real thread's wake): the loop does not count the
  // greenlet as blocked forever meanwhile (no Wake::loop_exit).
  bool remote = false;
};
// A mutex lock, a barrier, a join in a destructor: POSIX allows no interruption there; a
// pending kill or cancel waits for the next blocking call.
inline constexpr ParkPolicy kUninterruptible{false, Eintr::never};

// What park() runs once the greenlet counts as parked, before it gives up the CPU (or
// before it returns at once: a pending interruption, a deadline already past): it releases
// what guarded the decision to wait, so that no wake-up can fall in between. Returning an
// errno value instead of 0 cancels the park (Wake::none).
struct AfterEnqueue {
  int (*fn)(void* arg) noexcept;
  void* arg;
};

// Guards state that another OS thread may touch (Event); held for a few instructions,
// never across a switch (park() releases it once the waiter counts as parked).
class SpinLock {
 public:
  void lock() noexcept {
    while (held_.exchange(true, std::memory_order_acquire)) {
      while (held_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> held_{false};
};

struct Waiter {
  GreenletImpl* g = nullptr;  // nullptr: a thread that is no greenlet, asleep on `woken`
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool queued = false;
  // The park of g it belongs to: a wake for it never ends another park of g (one in a
  // signal handler that runs while this wait is still queued).
  std::uint32_t seq = 0;
  std::uint32_t woken = 0;    // a futex word, set to 1 by the wake of such a thread
};

// Intrusive FIFO of parked greenlets (and of sleeping threads that are no greenlets, on
// queues that both share); Waiters live on the waiters' stacks.
class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void push(Waiter* w) noexcept;
  void remove(Waiter* w) noexcept;
  // Wakes the oldest waiter (with `why`); false when there was none.
  bool notify_one(Wake why = Wake::notified) noexcept;
  void notify_all(Wake why = Wake::notified) noexcept;

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Parks the current greenlet on `q` until notified or `deadline`. Returns Wake::notified or
// Wake::timed_out; throws a pending kill/Timeout exception or green::LoopExit.
Wake wait_on(WaitQueue& q, Deadline deadline);
// Same, but returns Wake::interrupted / Wake::loop_exit instead of throwing (for the shim),
// with the wait's policy: what else may end it (ParkPolicy).
Wake wait_on_nothrow(WaitQueue& q, Deadline deadline, ParkPolicy policy = {},
                     const AfterEnqueue* then = nullptr) noexcept;

// Same, for a queue that `lock` guards (held on entry and again on return): the lock is
// released only once the greenlet counts as parked, so that a waker on another OS thread
// that takes it cannot miss the wait.
// `then`, if given, runs once the waiter is queued, before `lock` is released.
Wake wait_on_locked(WaitQueue& q, Deadline deadline, SpinLock& lock, ParkPolicy policy = {},
                    const AfterEnqueue* then = nullptr) noexcept;
// The same wait for a thread that is no greenlet (a real thread that shares the queue's
// object with greenlets): it sleeps in the kernel, on its Waiter's futex word, until
// notified (Wake::notified) or `deadline` (Wake::timed_out). If `then` fails, Wake::none.
Wake wait_on_locked_os_thread(WaitQueue& q, Deadline deadline, SpinLock& lock,
                              const AfterEnqueue* then = nullptr) noexcept;

// Throws what a wake reason means for API callers (the pending kill/Timeout exception,
// LoopExit); returns for the others.
void raise_for(Wake w);
// Throws the current greenlet's pending exception, if any.
void throw_if_pending();

// Opaque storage for one hub timer; hub.cpp checks that a libev timer fits.
struct TimerSlot {
  alignas(16) unsigned char raw[80];
  bool armed = false;
};
using TimerCallback = void (*)(void* arg);
void timer_start(TimerSlot& slot, Deadline at, TimerCallback cb, void* arg);
void timer_stop(TimerSlot& slot) noexcept;

}  // namespace detail
}  // namespace green

#pragma GCC visibility pop
