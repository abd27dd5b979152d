// The set of live greenlet threads, keyed by the address that is their pthread_t: open
// addressing with linear probing in a power-of-two table, so that a create, join or any
// call taking a pthread_t costs no allocation and no division (std::unordered_map took a
// node per thread and a modulo per lookup). The caller locks.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace green::shim {

template <class T>
class ThreadTable {
 public:
  std::shared_ptr<T> get(pthread_t id) const noexcept {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = home(id);; i = (i + 1) & mask()) {
      const Slot& s = slots_[i];
      if (s.id == id && s.t) return s.t;
      if (s.id == 0) return nullptr;
    }
  }
  void insert(pthread_t id, std::shared_ptr<T> t) {
    if ((used_ + 1) * 2 > slots_.size()) {
      std::size_t capacity = 16;
      while (capacity < live_ * 4) capacity *= 2;
      rehash(capacity);
    }
    for (std::size_t i = home(id);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.id == 0) ++used_;
      if (s.id == 0 || !s.t) {  // a free slot, or one a removed thread left (a tombstone)
        s.id = id;
        s.t = std::move(t);
        ++live_;
        return;
      }
    }
  }
  // The removed thread's reference, for the caller to drop outside its lock.
  std::shared_ptr<T> erase(pthread_t id) noexcept {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = home(id);; i = (i + 1) & mask()) {
      Slot& s = slots_[i];
      if (s.id == id && s.t) {
        --live_;
        return std::move(s.t);  // the id stays: a tombstone, so later probes go on
      }
      if (s.id == 0) return nullptr;
    }
  }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.t) f(*s.t);
    }
  }

 private:
  struct Slot {
    pthread_t id = 0;
    std::shared_ptr<T> t;
  };
  std::size_t mask() const noexcept { return slots_.size() - 1; }
  std::size_t home(pthread_t id) const noexcept {
    // Fibonacci hashing: the addresses differ mostly in their middle bits.
    return static_cast<std::size_t>((static_cast<std::uint64_t>(id) * 0x9E3779B97F4A7C15ull) >> 32) & mask();
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    used_ = live_ = 0;
    for (Slot& s : old) {
      if (s.t) insert(s.id, std::move(s.t));
    }
  }

  std::vector<Slot> slots_;
  std::size_t used_ = 0;  // slots ever used since the last rehash (live or tombstones)
  std::size_t live_ = 0;
};

}  // namespace green::shim
