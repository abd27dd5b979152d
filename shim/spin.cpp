// pthread_spin_* for greenlets: spinning on a lock that another greenlet of the same OS
// thread holds would spin forever, so a greenlet that finds it taken yields to the others
// and tries again. The lock word keeps glibc's values, so real threads interoperate.
#include <pthread.h>

#include <atomic>

#include "hook.hpp"

using namespace green::shim;

namespace {
std::atomic<int>& word(pthread_spinlock_t* l) {
  return *reinterpret_cast<std::atomic<int>*>(const_cast<int*>(l));
}
// What glibc's pthread_spin_init writes for "free": 1 on x86-64 (its lock decrements),
// 0 on the generic implementation. Asked once rather than assumed.
int free_value() {
  static const int v = [] {
    pthread_spinlock_t probe = 0;
    pthread_spin_init(&probe, PTHREAD_PROCESS_PRIVATE);
    const int r = probe;
    pthread_spin_destroy(&probe);
    return r;
  }();
  return v;
}
int held_value() { return free_value() == 0 ? 1 : 0; }
bool try_take(pthread_spinlock_t* l) {
  int expected = free_value();
  return word(l).compare_exchange_strong(expected, held_value(), std::memory_order_acquire);
}
}  // namespace

GREEN_HOOK(int, pthread_spin_lock, (pthread_spinlock_t* l)) {
  GREEN_COOPERATE(pthread_spin_lock, l);
  while (!try_take(l)) hub->yield();
  return 0;
}

GREEN_HOOK(int, pthread_spin_trylock, (pthread_spinlock_t* l)) {
  GREEN_COOPERATE(pthread_spin_trylock, l);
  return try_take(l) ? 0 : EBUSY;
}

GREEN_HOOK(int, pthread_spin_unlock, (pthread_spinlock_t* l)) {
  GREEN_BOOKKEEPING();
  word(l).store(free_value(), std::memory_order_release);
  return 0;
}
