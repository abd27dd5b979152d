// The one parking path every primitive uses: join a WaitQueue, park, leave it.
#include <cassert>

#include "green/errors.hpp"
#include "hub.hpp"

namespace green::detail {

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
    if (Hub::wake(w->g, why)) return true;
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
  q.push(&w);
  const Wake r = hub.park(deadline, policy, then);
  q.remove(&w);
  return r;
}

Wake wait_on_locked(WaitQueue& q, Deadline deadline, SpinLock& lock) noexcept {
  Hub& hub = Hub::current();
  Waiter w;
  w.g = hub.running();
  q.push(&w);
  const AfterEnqueue unlock{[](void* l) noexcept {
                               static_cast<SpinLock*>(l)->unlock();
                               return 0;
                             },
                             &lock};
  const Wake r = hub.park(deadline, {}, &unlock);
  lock.lock();
  q.remove(&w);
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
