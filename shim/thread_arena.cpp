// Where greenlet threads live: one range of address space reserved for them, so that a
// pthread_t inside it is known to be a greenlet thread's even after that thread was joined
// or ended detached, and a real thread's ID (glibc's descriptor, on a stack or in static
// TLS) never is. A stale ID then gets ESRCH, as glibc gives, instead of being handed to
// glibc as a descriptor.
//
// A freed slot waits in a FIFO behind kQuarantine others before it is reused, so that a
// just-ended thread's ID does not name the next new thread at once.
#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <new>

#include "thread.hpp"

namespace gd = green::detail;

namespace green::shim {

namespace {

class Arena {
 public:
  static constexpr std::size_t kSlot = 512;

  void* allocate() {
    std::lock_guard<gd::SpinLock> lock(mu_);
    if (free_count_ > kQuarantine) {
      Free* f = head_;
      head_ = f->next;
      if (head_ == nullptr) tail_ = nullptr;
      --free_count_;
      return f;
    }
    if (!reserve()) return ::operator new(kSlot);
    if (used_ + kSlot > committed_) {
      if (committed_ + kCommit > kReserve ||
          mprotect(base() + committed_, kCommit, PROT_READ | PROT_WRITE) != 0) {
        return ::operator new(kSlot);
      }
      committed_ += kCommit;
    }
    void* p = base() + used_;
    used_ += kSlot;
    return p;
  }

  void release(void* p) noexcept {
    if (!contains(p)) {
      ::operator delete(p);
      return;
    }
    auto* f = static_cast<Free*>(p);
    f->next = nullptr;
    std::lock_guard<gd::SpinLock> lock(mu_);
    if (tail_ != nullptr) {
      tail_->next = f;
    } else {
      head_ = f;
    }
    tail_ = f;
    ++free_count_;
  }

  bool contains(const void* p) const noexcept {
    const std::uintptr_t b = base_.load(std::memory_order_acquire);
    return b != 0 && reinterpret_cast<std::uintptr_t>(p) - b < kReserve;
  }

 private:
  static constexpr std::size_t kReserve = std::size_t{1} << 32;  // 8 Mi threads at once
  static constexpr std::size_t kCommit = std::size_t{256} << 10;
  static constexpr std::size_t kQuarantine = 1024;
  struct Free {
    Free* next;
  };

  char* base() const noexcept { return reinterpret_cast<char*>(base_.load(std::memory_order_relaxed)); }
  // Address space only: pages are committed as slots are first used.
  bool reserve() noexcept {
    if (base_.load(std::memory_order_relaxed) != 0) return true;
    if (failed_) return false;
    void* p = mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      failed_ = true;  // then IDs come from the heap, and a stale one goes to glibc
      return false;
    }
    base_.store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_release);
    return true;
  }

  gd::SpinLock mu_;
  std::atomic<std::uintptr_t> base_{0};
  bool failed_ = false;
  std::size_t used_ = 0, committed_ = 0;
  Free* head_ = nullptr;
  Free* tail_ = nullptr;
  std::size_t free_count_ = 0;
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: threads may outlive static dtors
  return *a;
}

// allocate_shared's allocator: the thread and its reference counts in one slot.
template <class T>
struct SlotAllocator {
  using value_type = T;
  SlotAllocator() = default;
  template <class U>
  SlotAllocator(const SlotAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    static_assert(sizeof(T) <= Arena::kSlot && alignof(T) <= 64);
    if (n != 1) throw std::bad_alloc();
    return static_cast<T*>(arena().allocate());
  }
  void deallocate(T* p, std::size_t) noexcept { arena().release(p); }
  template <class U>
  bool operator==(const SlotAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace

std::shared_ptr<GreenThread> new_thread(void* (*fn)(void*), void* arg, bool detached) {
  return std::allocate_shared<GreenThread>(SlotAllocator<GreenThread>{}, fn, arg, detached);
}

bool greenlet_thread_id(pthread_t t) noexcept { return arena().contains(reinterpret_cast<const void*>(t)); }

}  // namespace green::shim
