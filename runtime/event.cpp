#include "green/event.hpp"

namespace green {

void Event::set() noexcept {
  flag_ = true;
  waiters_.notify_all();
}

bool Event::wait(Duration timeout) {
  const detail::Deadline deadline = detail::deadline_after(timeout);
  while (!flag_) {
    if (detail::wait_on(waiters_, deadline) == detail::Wake::timed_out) return flag_;
  }
  return true;
}

}  // namespace green
