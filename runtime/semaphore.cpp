#include "green/semaphore.hpp"

namespace green {

bool Semaphore::try_acquire() noexcept {
  if (value_ == 0 || !waiters_.empty()) return false;
  --value_;
  return true;
}

bool Semaphore::acquire(Duration timeout) {
  // Queue behind earlier waiters even if a permit is free: it is promised to them.
  if (try_acquire()) return true;
  // A notified waiter was handed the permit by release(); any other wake means none.
  return detail::wait_on(waiters_, detail::deadline_after(timeout)) == detail::Wake::notified;
}

void Semaphore::release() {
  if (!waiters_.notify_one()) ++value_;
}

void BoundedSemaphore::release() {
  if (value_ >= initial_) throw std::logic_error("green: BoundedSemaphore released too many times");
  Semaphore::release();
}

}  // namespace green
