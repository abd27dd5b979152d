// Greenlet-local storage: each greenlet sees its own T, default-constructed on first use
// and destroyed when that greenlet ends (gevent.local.local).
#pragma once

#include <cstdint>
#include <utility>

#include "detail/greenlet_impl.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

namespace detail {
std::uint64_t local_new_key() noexcept;
void* local_find(std::uint64_t key) noexcept;
void local_store(std::uint64_t key, void* value, void (*destroy)(void*));
}  // namespace detail

template <class T>
class local {
 public:
  local() : key_(detail::local_new_key()) {}
  local(const local&) = delete;
  local& operator=(const local&) = delete;

  // This greenlet's value, created on first access.
  T& get() {
    if (void* p = detail::local_find(key_)) return *static_cast<T*>(p);
    T* v = new T();
    try {
      detail::local_store(key_, v, [](void* p) { delete static_cast<T*>(p); });
    } catch (...) {
      delete v;
      throw;
    }
    return *v;
  }
  // Whether this greenlet has touched its value yet.
  bool has_value() const { return detail::local_find(key_) != nullptr; }

  T& operator*() { return get(); }
  T* operator->() { return &get(); }
  local& operator=(T v) {
    get() = std::move(v);
    return *this;
  }

 private:
  std::uint64_t key_;
};

}  // namespace green

#pragma GCC visibility pop
