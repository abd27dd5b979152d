#include "green/lock.hpp"

#include <stdexcept>

namespace green {

void Lock::release() {
  if (!sem_.locked()) throw std::logic_error("green: release of an unlocked Lock");
  sem_.release();
}

bool RLock::acquire(Duration timeout) {
  detail::GreenletImpl* me = detail::current_greenlet();
  if (owner_ == me) {
    ++count_;
    return true;
  }
  if (!sem_.acquire(timeout)) return false;
  owner_ = me;
  count_ = 1;
  return true;
}

bool RLock::try_acquire() {
  detail::GreenletImpl* me = detail::current_greenlet();
  if (owner_ == me) {
    ++count_;
    return true;
  }
  if (!sem_.try_acquire()) return false;
  owner_ = me;
  count_ = 1;
  return true;
}

void RLock::release() {
  if (owner_ != detail::current_greenlet()) {
    throw std::logic_error("green: release of an RLock the caller does not own");
  }
  if (--count_ == 0) {
    owner_ = nullptr;
    sem_.release();
  }
}

}  // namespace green
