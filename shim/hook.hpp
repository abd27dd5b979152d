// How an interposer is declared, and the one bypass test every interposer starts with.
//
// GREEN_HOOK(ret, name, params) defines the exported libc-named function. Its body opens
// with GREEN_COOPERATE (or GREEN_BOOKKEEPING), which asks green_context() for the hub to
// park on; nullptr means "go straight to REAL(name)":
// hooks inactive, before init, on the hub fiber (libev's own calls), inside the runtime
// (NoHooks), or a thread that is not a greenlet.
#pragma once

#include <cerrno>
#include <cstdint>

#include "hub.hpp"
#include "real.hpp"

#define GREEN_HOOK(ret, name, params) extern "C" __attribute__((visibility("default"))) ret name params

// The preamble of a hook that may park: resolve, the bypass test, the hub. Declares `hub`
// (the calling greenlet's hub), or returns REAL(name)(args...) when the call is not ours.
// Hooks whose bypass needs more than green_context() (an object greenshim does not own)
// test it first thing, and io_call() opens the I/O hooks the same way.
#define GREEN_COOPERATE(name, ...)                                             \
  ::green::detail::Hub* const hub [[maybe_unused]] = ::green::shim::green_context(); \
  if (hub == nullptr) return REAL(name)(__VA_ARGS__)

// The preamble of a hook that makes the real call itself and only keeps books (fd table,
// thread registry, handler table): the real functions are resolved, nothing parks.
#define GREEN_BOOKKEEPING() ::green::shim::ensure_real()

// glibc's report of a buffer overflow that a fortified (_chk) call found.
extern "C" [[noreturn]] void __chk_fail(void);

namespace green::shim {

// Process-wide switch: set at load under LD_PRELOAD (unless GREEN_DISABLE=1) or by
// green::patch_all().
extern bool hooks_active;
extern bool real_resolved;

// Makes this OS thread's hub if it should have one (the main thread under LD_PRELOAD).
detail::Hub* adopt_thread() noexcept;

inline detail::Hub* green_context() noexcept {
  if (__builtin_expect(!real_resolved, 0)) resolve_real();
  if (!hooks_active) return nullptr;
  detail::Hub* h = detail::tls_hub;
  if (__builtin_expect(h == nullptr, 0)) h = adopt_thread();
  if (h == nullptr || h->in_hub_fiber() || detail::tls_no_hooks != 0) return nullptr;
  return h;
}

// Whether the shim's synchronisation objects serve the caller: hooks active, and not the
// runtime's own calls. Unlike green_context(), true on real threads too: an object that
// greenlets and real threads share must be one object to both (cond.cpp, rwlock.cpp).
inline bool sync_objects_ours() noexcept {
  if (__builtin_expect(!real_resolved, 0)) resolve_real();
  return hooks_active && detail::tls_no_hooks == 0;
}

// errno, read where the compiler cannot reuse an address it computed under another thread
// pointer (__errno_location is declared const).
[[gnu::noipa]] inline int current_errno() noexcept { return errno; }
[[gnu::noipa]] inline void set_current_errno(int e) noexcept { errno = e; }

// Runs `call` (a libc call) on the OS thread's own TCB when the caller is a greenlet thread
// with a TLS of its own: glibc code that walks its list of threads and treats THREAD_SELF
// as the calling OS thread (fork's clean-up in the child, setuid's signalling of every
// other thread) must find the descriptor it knows. errno is carried back.
// In a fork() child (pthread_atfork's child handler; _Fork's hook, which runs none).
void child_after_fork();

template <class Call>
auto on_os_thread_tcb(Call&& call) -> decltype(call()) {
  detail::Hub* hub = detail::Hub::current_if_exists();
  if (hub == nullptr || !hub->running()->owns_tls()) return call();
  void* const own = detail::tls::current();
  detail::tls::install(hub->thread_pointer());
  const auto r = call();
  const int e = current_errno();
  detail::tls::install(own);
  set_current_errno(e);
  return r;
}

// Calls into libc that must not re-enter the hooks (resolver threads, our own writes).
inline void ensure_real() noexcept {
  if (__builtin_expect(!real_resolved, 0)) resolve_real();
}

}  // namespace green::shim
