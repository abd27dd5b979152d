// Lock and RLock (gevent.lock). Lock is a binary semaphore: any greenlet may release it,
// as in gevent and Python. RLock counts re-entries by its owner and refuses to be
// released by anybody else.
#pragma once

#include <cstddef>

#include "detail/greenlet_impl.hpp"
#include "semaphore.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

class Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  bool acquire(Duration timeout = forever) { return sem_.acquire(timeout); }
  bool try_acquire() noexcept { return sem_.try_acquire(); }
  // Throws std::logic_error if the lock is not held.
  void release();
  bool locked() const noexcept { return sem_.locked(); }

  void lock() { acquire(); }
  bool try_lock() noexcept { return try_acquire(); }
  void unlock() { release(); }

 private:
  Semaphore sem_{1};
};

class RLock {
 public:
  RLock() = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  bool acquire(Duration timeout = forever);
  bool try_acquire();
  // Throws std::logic_error unless the caller owns the lock.
  void release();
  bool locked() const noexcept { return owner_ != nullptr; }
  std::size_t count() const noexcept { return count_; }

  void lock() { acquire(); }
  bool try_lock() { return try_acquire(); }
  void unlock() { release(); }

 private:
  Semaphore sem_{1};
  detail::GreenletImpl* owner_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace green

#pragma GCC visibility pop
