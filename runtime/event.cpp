#include "green/event.hpp"

#include <mutex>

namespace green {

void Event::set() noexcept {
  std::lock_guard<detail::SpinLock> hold(lock_);
  flag_.store(true, std::memory_order_release);
  waiters_.notify_all();
}

bool Event::wait(Duration timeout) {
  const detail::Deadline deadline = detail::deadline_after(timeout);
  std::unique_lock<detail::SpinLock> hold(lock_);
  while (!is_set()) {
    const detail::Wake w = detail::wait_on_locked(waiters_, deadline, lock_);
    if (w == detail::Wake::notified) continue;
    const bool set_meanwhile = is_set();
    hold.unlock();
    detail::raise_for(w);  // a kill, a Timeout, LoopExit
    return set_meanwhile;
  }
  return true;
}

}  // namespace green
