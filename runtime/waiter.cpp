// The one parking path every primitive uses: join a WaitQueue, park, leave it.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cassert>

#include "green/errors.hpp"
#include "hub.hpp"

namespace green::detail {

namespace {

long futex(std::uint32_t* word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  NoHooks off;
  return ::syscall(SYS_futex, word, op, value, timeout, nullptr, 0);
}

// Wakes a waiter that is no greenlet. It may return as soon as it sees the word set, so
// the futex wake can reach a word that is gone: at worst a spurious wake of whatever
// futex sits there now, which every futex user tolerates.
void wake_os_thread(Waiter* w) noexcept {
  std::atomic_ref<std::uint32_t>(w->woken).store(1, std::memory_order_release);
  futex(&w->woken, FUTEX_WAKE_PRIVATE, 1, nullptr);
}

}  // namespace

void WaitQueue::push(Waiter* w) noexcept {
  w->prev = tail_;
  w->next = nullptr;
  if (tail_ != nullptr) tail_->next = w; else head_ = w;
  tail_ = w;
  w->queued = true;
  ++size_;
}

void WaitQueue::remove(Waiter* w) noexcept {
  if (!w->queued) return;
  if (w->prev != nullptr) w->prev->next = w->next; else head_ = w->next;
  if (w->next != nullptr) w->next->prev = w->prev; else tail_ = w->prev;
  w->prev = w->next = nullptr;
  w->queued = false;
  --size_;
}

bool WaitQueue::notify_one(Wake why) noexcept {
  // A waiter whose greenlet was already woken (interrupted, timed out) will not take the
  // turn: pass it on, or the turn would be lost. The wake goes through the waiter's hub.
  while (Waiter* w = head_) {
    remove(w);
    if (w->g == nullptr) {
      wake_os_thread(w);
      return true;
    }
    if (Hub::wake_park(w->g, w->seq, why)) return true;
  }
  return false;
}

void WaitQueue::notify_all(Wake why) noexcept {
  while (notify_one(why)) {
  }
}

Wake wait_on_nothrow(WaitQueue& q, Deadline deadline, ParkPolicy policy, const AfterEnqueue* then) noexcept {
  Hub& hub = Hub::current();
  Waiter w;
  w.g = hub.running();
  w.seq = w.g->park_seq() + 1;  // the park below
  q.push(&w);
  const Wake r = hub.park(deadline, policy, then);
  q.remove(&w);
  return r;
}

Wake wait_on_locked(WaitQueue& q, Deadline deadline, SpinLock& lock, ParkPolicy policy,
                    const AfterEnqueue* then) noexcept {
  Hub& hub = Hub::current();
  Waiter w;
  w.g = hub.running();
  w.seq = w.g->park_seq() + 1;  // the park below
  q.push(&w);
  struct Release {
    SpinLock* lock;
    const AfterEnqueue* then;
  } release{&lock, then};
  // The caller's step first, under the lock; the lock goes either way (park then returns
  // at once if the step failed).
  const AfterEnqueue step{[](void* arg) noexcept {
                            auto* r = static_cast<Release*>(arg);
                            const int rc = r->then != nullptr ? r->then->fn(r->then->arg) : 0;
                            r->lock->unlock();
                            return rc;
                          },
                          &release};
  const Wake r = hub.park(deadline, policy, &step);
  lock.lock();
  q.remove(&w);
  return r;
}

Wake wait_on_locked_os_thread(WaitQueue& q, Deadline deadline, SpinLock& lock, const AfterEnqueue* then) noexcept {
  Waiter w;  // no greenlet: notify_one sets w.woken and wakes its futex
  q.push(&w);
  if (then != nullptr && then->fn(then->arg) != 0) {
    q.remove(&w);
    return Wake::none;
  }
  lock.unlock();
  std::atomic_ref<std::uint32_t> woken(w.woken);
  Wake r = Wake::notified;
  while (woken.load(std::memory_order_acquire) == 0) {
    timespec left_ts;
    const timespec* timeout = nullptr;
    if (deadline != kNoDeadline) {
      const std::int64_t left = deadline - now_ns();
      if (left <= 0) {
        lock.lock();
        const bool still_queued = w.queued;
        q.remove(&w);
        lock.unlock();
        // Not queued: a notifier took it and set the word under the lock: the wake counts.
        if (still_queued) r = Wake::timed_out;
        break;
      }
      left_ts = {static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
      timeout = &left_ts;
    }
    futex(&w.woken, FUTEX_WAIT_PRIVATE, 0, timeout);
  }
  lock.lock();
  return r;
}

Wake wait_on(WaitQueue& q, Deadline deadline) {
  const Wake r = wait_on_nothrow(q, deadline);
  raise_for(r);
  return r;
}

void raise_for(Wake w) {
  if (w == Wake::interrupted) {
    GreenletImpl* g = Hub::current().running();
    if (g->has_pending()) g->raise_pending();
  } else if (w == Wake::loop_exit) {
    throw LoopExit();
  }
}

void throw_if_pending() {
  GreenletImpl* g = Hub::current().running();
  if (g->has_pending()) g->raise_pending();
}

void timer_start(TimerSlot& slot, Deadline at, TimerCallback cb, void* arg) {
  Hub::current().timer_start(slot, at, cb, arg);
}

void timer_stop(TimerSlot& slot) noexcept {
  if (Hub* h = Hub::current_if_exists()) h->timer_stop(slot);
}

}  // namespace green::detail
