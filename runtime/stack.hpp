// Greenlet stacks: mmap'd, a PROT_NONE guard page below each, pooled per hub for reuse.
//
// A fresh mapping with its guard costs two system calls and page faults on first touch
// (about 10 µs here); a pooled one costs a vector pop. Only stacks of the default size are
// pooled; odd sizes (pthread_attr_setstacksize) are mapped and unmapped each time.
#pragma once

#include <cstddef>
#include <vector>

#include "green/detail/greenlet_impl.hpp"

namespace green::detail {

class GREEN_EXPORT StackPool {
 public:
  StackPool(std::size_t default_size, std::size_t capacity) noexcept;
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A stack with at least `usable` bytes above its guard (0 = the default size).
  // Returns {nullptr, 0} if the kernel refused the mapping.
  StackArea acquire(std::size_t usable);
  void release(StackArea s) noexcept;

  std::size_t pooled() const noexcept { return free_.size(); }
  // From now on a default stack also has `extra` bytes above its usable size (a greenlet
  // thread's TLS, which would otherwise come out of it). Pooled stacks of the old size are
  // unmapped. Never shrinks.
  void reserve_top(std::size_t extra) noexcept;
  static void* top(const StackArea& s) noexcept {
    return static_cast<char*>(s.base) + s.size;
  }
  static std::size_t usable(const StackArea& s) noexcept;

 private:
  std::size_t default_usable_;
  std::size_t reserved_ = 0;
  std::size_t default_size_;  // mapping size of a pooled stack, guard included
  std::size_t capacity_;
  std::vector<StackArea> free_;
};

}  // namespace green::detail
