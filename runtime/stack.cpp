#include "stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace green::detail {

namespace {

std::size_t page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t mapping_size(std::size_t usable) noexcept {
  const std::size_t p = page_size();
  return ((usable + p - 1) / p) * p + p;
}

StackArea map_stack(std::size_t size) noexcept {
  // MAP_NORESERVE: stacks are mostly untouched; do not charge them all to overcommit.
  // MAP_STACK documents intent (and selects no huge pages on some kernels).
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) return {};
  if (::mprotect(p, page_size(), PROT_NONE) != 0) {
    ::munmap(p, size);
    return {};
  }
  return {p, size};
}

}  // namespace

StackPool::StackPool(std::size_t default_size, std::size_t capacity) noexcept
    : default_usable_(default_size), default_size_(mapping_size(default_size)), capacity_(capacity) {}

void StackPool::reserve_top(std::size_t extra) noexcept {
  if (extra <= reserved_) return;
  reserved_ = extra;
  default_size_ = mapping_size(default_usable_ + extra);
  for (const StackArea& s : free_) ::munmap(s.base, s.size);
  free_.clear();
}

StackPool::~StackPool() {
  for (const StackArea& s : free_) ::munmap(s.base, s.size);
}

std::size_t StackPool::usable(const StackArea& s) noexcept { return s.ours ? s.size - page_size() : s.size; }

StackArea StackPool::acquire(std::size_t usable) {
  const std::size_t size = usable == 0 ? default_size_ : mapping_size(usable);
  if (size == default_size_ && !free_.empty()) {
    StackArea s = free_.back();
    free_.pop_back();
    return s;
  }
  return map_stack(size);
}

void StackPool::release(StackArea s) noexcept {
  if (s.base == nullptr || !s.ours) return;
  if (s.size == default_size_ && free_.size() < capacity_) {
    free_.push_back(s);
    return;
  }
  ::munmap(s.base, s.size);
}

}  // namespace green::detail
