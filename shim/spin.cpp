// pthread_spin_* for greenlets: spinning on a lock that another greenlet of the same OS
// thread holds would spin forever, so a greenlet that finds it taken yields to the others
// and tries again. The lock word is glibc's (0 free), so real threads interoperate.
#include <pthread.h>

#include <atomic>

#include "hook.hpp"

using namespace green::shim;

namespace {
std::atomic<int>& word(pthread_spinlock_t* l) {
  return *reinterpret_cast<std::atomic<int>*>(const_cast<int*>(l));
}
bool try_take(pthread_spinlock_t* l) {
  int expected = 0;
  return word(l).compare_exchange_strong(expected, 1, std::memory_order_acquire);
}
}  // namespace

GREEN_HOOK(int, pthread_spin_lock, (pthread_spinlock_t* l)) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr) return REAL(pthread_spin_lock)(l);
  while (!try_take(l)) hub->yield();
  return 0;
}

GREEN_HOOK(int, pthread_spin_trylock, (pthread_spinlock_t* l)) {
  if (green_context() == nullptr) return REAL(pthread_spin_trylock)(l);
  return try_take(l) ? 0 : EBUSY;
}

GREEN_HOOK(int, pthread_spin_unlock, (pthread_spinlock_t* l)) {
  ensure_real();
  word(l).store(0, std::memory_order_release);
  return 0;
}
