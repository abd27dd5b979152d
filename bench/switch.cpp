// bench/switch: what a greenlet switch and a greenlet's life cost, against the raw
// Boost.Context fiber pair and pthread_create+pthread_join measured in the same run.
//
// Prints ns/op for each and the ratios the project's goals are stated in:
//   yield round trip / raw fiber resume pair   (goal <= 1.5)
//   pthread create+join / greenlet spawn+join  (goal >= 100)
// and the same for greenlet threads (pthread_create after green::patch_all()), which own
// their TLS: their round trip against the raw pair plus the two thread-pointer writes it
// cannot avoid (the honest floor), their create+join against the real one.
#include <pthread.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <green/green.hpp>
#include <green/patch.hpp>
#include <sched.h>

#include "tls.hpp"

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double best_ns_per_op(int rounds, long ops, F&& body) {
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    body(ops);
    const auto t1 = Clock::now();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / ops);
  }
  return best;
}

void raw_fiber_pairs(long n) {
  namespace ctx = boost::context;
  ctx::fiber f{[](ctx::fiber&& caller) {
    for (;;) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  for (long i = 0; i < n; ++i) f = std::move(f).resume();
}

// The raw pair plus what a switch between two TLS-owning threads must add: one
// thread-pointer write per switch (the same pointer, so that TLS stays valid).
void raw_fiber_pairs_with_tp(long n) {
  namespace ctx = boost::context;
  void* tp = green::detail::tls::current();
  ctx::fiber f{[tp](ctx::fiber&& caller) {
    for (;;) {
      green::detail::tls::install(tp);
      caller = std::move(caller).resume();
    }
    return std::move(caller);
  }};
  for (long i = 0; i < n; ++i) {
    green::detail::tls::install(tp);
    f = std::move(f).resume();
  }
}

// Two greenlet threads yielding to each other (sched_yield under the shim).
void thread_yield_round_trips(long n) {
  auto body = [](void* arg) -> void* {
    const long count = *static_cast<long*>(arg);
    for (long i = 0; i < count; ++i) sched_yield();
    return nullptr;
  };
  pthread_t a, b;
  if (pthread_create(&a, nullptr, body, &n) != 0 || pthread_create(&b, nullptr, body, &n) != 0) std::abort();
  pthread_join(a, nullptr);
  pthread_join(b, nullptr);
}

void greenlet_yield_round_trips(long n) {
  auto pinger = green::spawn([n] { for (long i = 0; i < n; ++i) green::yield(); });
  auto ponger = green::spawn([n] { for (long i = 0; i < n; ++i) green::yield(); });
  green::joinall({pinger, ponger});
}

void greenlet_spawn_join(long n) {
  for (long i = 0; i < n; ++i) green::spawn([] {}).join();
}

void pthread_create_join(long n) {
  for (long i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, [](void*) -> void* { return nullptr; }, nullptr) != 0) std::abort();
    pthread_join(t, nullptr);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  const auto n = [scale](long base) { return std::max(1L, static_cast<long>(base * scale)); };
  greenlet_spawn_join(1000);  // warm the stack pool and the hub

  const double raw = best_ns_per_op(5, n(2000000), raw_fiber_pairs);
  const double yield_rt = best_ns_per_op(5, n(2000000), greenlet_yield_round_trips);
  const double spawn = best_ns_per_op(5, n(500000), greenlet_spawn_join);
  const double thread = best_ns_per_op(3, n(5000), pthread_create_join);
  const double raw_tp = best_ns_per_op(5, n(2000000), raw_fiber_pairs_with_tp);
  green::patch_all();  // from here on, pthread_create makes greenlet threads
  pthread_create_join(1000);
  const double thread_rt = best_ns_per_op(5, n(2000000), thread_yield_round_trips);
  const double green_thread = best_ns_per_op(5, n(200000), pthread_create_join);

  std::printf("%-44s %12s\n", "operation", "ns/op");
  std::printf("%-44s %12.1f\n", "raw Boost.Context fiber resume pair", raw);
  std::printf("%-44s %12.1f\n", "greenlet yield round trip (2 switches)", yield_rt);
  std::printf("%-44s %12.1f\n", "greenlet spawn + join (empty body)", spawn);
  std::printf("%-44s %12.1f\n", "pthread_create + pthread_join", thread);
  std::printf("%-44s %12.1f\n", "raw pair + 2 thread-pointer writes", raw_tp);
  std::printf("%-44s %12.1f\n", "greenlet-thread yield round trip (own TLS)", thread_rt);
  std::printf("%-44s %12.1f\n", "greenlet-thread create + join (own TLS)", green_thread);
  std::printf("%-44s %12zu  (%s)\n", "TLS bytes per greenlet thread", green::detail::tls::area_size(),
              green::detail::tls::fsgsbase ? "wrfsbase" : "arch_prctl");
  std::printf("\n%-44s %12.2f  (goal <= 1.5)\n", "yield round trip / raw fiber pair", yield_rt / raw);
  std::printf("%-44s %12.1f  (goal >= 100)\n", "pthread create+join / greenlet spawn+join", thread / spawn);
  std::printf("%-44s %12.2f  (goal <= 1.5)\n", "thread round trip / (raw pair + 2 tp writes)", thread_rt / raw_tp);
  std::printf("%-44s %12.1f  (goal >= 100)\n", "pthread create+join / greenlet thread's", thread / green_thread);
  return 0;
}
