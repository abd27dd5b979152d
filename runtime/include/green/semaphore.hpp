// Semaphore and BoundedSemaphore (gevent.lock). A release hands its permit straight to the
// oldest waiter, so waiters are served in FIFO order and none starves. Both satisfy
// Lockable: usable with std::lock_guard and std::unique_lock.
#pragma once

#include <cstddef>
#include <stdexcept>

#include "detail/core.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

class Semaphore {
 public:
  explicit Semaphore(std::size_t value = 1) : value_(value) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Takes a permit, parking for one; false if `timeout` passes first.
  bool acquire(Duration timeout = forever);
  bool try_acquire() noexcept;
  void release();

  std::size_t value() const noexcept { return value_; }
  bool locked() const noexcept { return value_ == 0; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

  void lock() { acquire(); }
  bool try_lock() noexcept { return try_acquire(); }
  void unlock() { release(); }

 protected:
  std::size_t value_;
  detail::WaitQueue waiters_;
};

// A Semaphore that refuses to be released above its initial value (a logic error).
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::size_t value = 1) : Semaphore(value), initial_(value) {}
  // Throws std::logic_error when no permit is out.
  void release();
  void unlock() { release(); }

 private:
  std::size_t initial_;
};

}  // namespace green

#pragma GCC visibility pop
