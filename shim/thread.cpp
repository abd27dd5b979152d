// Thread hooks: pthread_create spawns a greenlet on the caller's hub instead of an OS
// thread; everything that takes or returns a pthread_t understands greenlet threads.
//
// Departures from POSIX, all because greenlet threads share one OS thread (scheduling
// calls: thread_sched.cpp):
// - asynchronous cancellation ends a thread that computes at its next preemption tick
//   (GREEN_PREEMPT_MS), and one that waits at its wait's end only if the wait is a
//   cancellation point. pthread_exit and cancellation are glibc's, as thread_exit.cpp says.
#include "thread.hpp"
#include "syscall_trap.hpp"

#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

#include <cstdlib>
#include <system_error>

#include "config.hpp"
#include "green/errors.hpp"
#include "park.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

// GREEN_THREADS=real keeps every thread a real OS thread.
bool green_threads_enabled() { return gd::config().green_threads; }

// GREEN_REAL_THREADS: a colon-separated list of shared-object file names (e.g.
// "libjvm.so:libcuda.so"); a start routine inside one of them gets a real OS thread.
bool start_routine_allowed_real(void* (*fn)(void*)) {
  const char* list = gd::config().real_threads.c_str();
  if (*list == '\0') return false;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(fn), &info) == 0 || info.dli_fname == nullptr) return false;
  const char* base = strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  const size_t blen = strlen(base);
  for (const char* p = list; *p != '\0';) {
    const char* end = strchr(p, ':');
    const size_t len = end ? static_cast<size_t>(end - p) : strlen(p);
    if (len > 0 && (strncmp(base, p, len) == 0 && (blen == len || base[len] == '.' || base[len] == '-'))) return true;
    if (end == nullptr) break;
    p = end + 1;
  }
  return false;
}

std::size_t stack_size_from(const pthread_attr_t* attr) {
  if (attr == nullptr) return 0;
  size_t size = 0;
  if (pthread_attr_getstacksize(attr, &size) != 0) return 0;
  // glibc reports its default (the stack rlimit, 8 MiB) when nobody set a size; a
  // greenlet then gets greenshim's default instead of 8 MiB of address space.
  static const size_t glibc_default = [] {
    pthread_attr_t a;
    size_t s = 0;
    pthread_attr_init(&a);
    pthread_attr_getstacksize(&a, &s);
    pthread_attr_destroy(&a);
    return s;
  }();
  return size == glibc_default ? 0 : size;
}

}  // namespace

GREEN_HOOK(int, pthread_create, (pthread_t* out, const pthread_attr_t* attr, void* (*fn)(void*), void* arg)) {
  gd::Hub* hub = green_context();
  if (hub == nullptr || !green_threads_enabled() || start_routine_allowed_real(fn)) {
    if (hooks_active && gd::tls_no_hooks == 0) note_real_thread();
    gd::NoHooks guard;  // glibc's own setup inside pthread_create is not ours to hook
    return REAL(pthread_create)(out, attr, fn, arg);
  }
  int detach = PTHREAD_CREATE_JOINABLE;
  if (attr != nullptr) pthread_attr_getdetachstate(attr, &detach);
  std::shared_ptr<GreenThread> t;
  try {
    t = new_thread(fn, arg, detach == PTHREAD_CREATE_DETACHED);
    if (const int e = init_thread_sched(*t, attr)) return e;  // before it has an ID
    *out = register_thread(t);
    // Its signal mask is its creator's, and nothing is pending for it (pthread_create(3)).
    const SigCtx* creator = current_sig_ctx();
    sig_ctx_attach(t->sig, t.get(), creator != nullptr ? creator->mask.load() : 0);
    void* user_stack = nullptr;
    size_t user_size = 0;
    if (attr != nullptr && pthread_attr_getstack(attr, &user_stack, &user_size) == 0) {
      // glibc reports the stored top minus the size: with no stack set (top 0) the sum
      // wraps to zero.
      if (reinterpret_cast<uintptr_t>(user_stack) + user_size == 0) user_stack = nullptr;
    } else {
      user_stack = nullptr;
    }
    // Every greenlet thread owns its TLS, unless the probe found glibc unlike itself.
    const bool own_tls = gd::tls::available();
    if (user_stack != nullptr) {
      hub->spawn_on(t, user_stack, user_size, own_tls);  // pthread_attr_setstack: the caller's memory
    } else {
      hub->spawn(t, stack_size_from(attr), own_tls);
    }
    start_preemption(*hub);  // once there are threads to share the hub
    start_syscall_trap(*hub);
  } catch (const std::system_error& e) {
    if (t) {
      sig_ctx_detach(t->sig);
      forget_thread(t.get());
    }
    return e.code().value() == EINVAL ? EINVAL : EAGAIN;  // a stack too small for the TLS
  } catch (...) {
    if (t) {
      sig_ctx_detach(t->sig);
      forget_thread(t.get());
    }
    return EAGAIN;  // what glibc reports when it cannot get a stack
  }
  return 0;
}

namespace {

// Joins a greenlet thread; `deadline` kNoDeadline waits forever. Returns an errno value.
int join_green(const std::shared_ptr<GreenThread>& t, void** retval, gd::Deadline deadline, bool try_only) {
  if (t.get() == current_thread()) return EDEADLK;
  if (t->detached || t->joined) return EINVAL;
  while (!t->dead()) {
    if (try_only) return EBUSY;
    const gd::Wake w = gd::wait_on_nothrow(t->joiners(), deadline);
    if (w == gd::Wake::timed_out && !t->dead()) return ETIMEDOUT;
    if (w == gd::Wake::interrupted) test_cancel();  // pthread_join is a cancellation point
    if (w == gd::Wake::loop_exit) return EDEADLK;
  }
  t->joined = true;
  if (retval != nullptr) *retval = t->retval;
  forget_thread(t.get());
  return 0;
}

// A real thread joined from a greenlet: the wait runs on a helper thread.
int join_real(pthread_t t, void** retval) {
  GREEN_COOPERATE(pthread_join, t, retval);
  int rc = 0;
  hub->offload([&] { rc = REAL(pthread_join)(t, retval); });
  return rc;
}

}  // namespace

GREEN_HOOK(int, pthread_join, (pthread_t t, void** retval)) {
  GREEN_BOOKKEEPING();
  if (auto g = find_thread(t)) return join_green(g, retval, gd::kNoDeadline, false);
  if (greenlet_thread_id(t)) return ESRCH;  // an ended thread's, joined or detached
  // The hub's own OS thread (the main thread) can only end with the process.
  if (gd::Hub* hub = green_context(); hub != nullptr && pthread_equal(t, hub->os_thread())) return EDEADLK;
  return join_real(t, retval);
}

GREEN_HOOK(int, pthread_tryjoin_np, (pthread_t t, void** retval)) {
  GREEN_BOOKKEEPING();
  if (auto g = find_thread(t)) return join_green(g, retval, gd::kNoDeadline, true);
  // glibc's answer for a joined thread's ID: its descriptor looks like a running thread's.
  return greenlet_thread_id(t) ? EBUSY : REAL(pthread_tryjoin_np)(t, retval);
}

GREEN_HOOK(int, pthread_clockjoin_np, (pthread_t t, void** retval, clockid_t clock, const struct timespec* abstime)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_clockjoin_np)(t, retval, clock, abstime);
  if (abstime == nullptr) return join_green(g, retval, gd::kNoDeadline, false);
  if (!valid_timespec(*abstime)) return EINVAL;
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  return join_green(g, retval, abs_deadline(clock, abstime), false);
}

GREEN_HOOK(int, pthread_timedjoin_np, (pthread_t t, void** retval, const struct timespec* abstime)) {
  return pthread_clockjoin_np(t, retval, CLOCK_REALTIME, abstime);
}

GREEN_HOOK(int, pthread_detach, (pthread_t t)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_detach)(t);
  if (g->detached) return EINVAL;
  g->detached = true;
  if (g->dead()) forget_thread(g.get());
  return 0;
}

GREEN_HOOK(pthread_t, pthread_self, ()) {
  GREEN_BOOKKEEPING();
  if (gd::tls_no_hooks != 0) return REAL(pthread_self)();
  if (GreenThread* t = current_thread()) return reinterpret_cast<pthread_t>(t);
  return REAL(pthread_self)();
}

// pthread_equal stays glibc's: a greenlet thread's pthread_t is compared as the value it is.

GREEN_HOOK(void, pthread_exit, (void* value)) {
  GREEN_BOOKKEEPING();
  if (GreenThread* t = current_thread()) t->exit(value);
  gd::Hub* hub = gd::Hub::current_if_exists();
  if (hub != nullptr && hooks_active && hub->running() == hub->main_greenlet()) {
    // POSIX: the process lives on until its last thread ends; here, until every greenlet
    // thread has finished. Then exit(0), as when the last thread returns.
    run_key_destructors();
    wait_for_every_thread();
    exit(0);
  }
  REAL(pthread_exit)(value);
  __builtin_unreachable();
}

GREEN_HOOK(int, sched_yield, ()) {
  GREEN_COOPERATE(sched_yield);
  hub->yield();
  return 0;
}

// glibc's headers redirect pthread_yield to sched_yield, so the name must be given to the
// assembler directly; old binaries still call pthread_yield itself.
extern "C" __attribute__((visibility("default"))) int green_pthread_yield() __asm__("pthread_yield");
int green_pthread_yield() { return sched_yield(); }

GREEN_HOOK(int, pthread_getattr_np, (pthread_t t, pthread_attr_t* attr)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_getattr_np)(t, attr);
  const gd::StackArea& s = g->stack();
  if (s.base == nullptr) return ESRCH;
  const size_t guard = s.ours ? static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
  int rc = pthread_attr_init(attr);
  if (rc != 0) return rc;
  pthread_attr_setstack(attr, static_cast<char*>(s.base) + guard, s.size - guard);
  pthread_attr_setguardsize(attr, guard);
  pthread_attr_setdetachstate(attr, g->detached ? PTHREAD_CREATE_DETACHED : PTHREAD_CREATE_JOINABLE);
  return 0;
}

GREEN_HOOK(int, pthread_setname_np, (pthread_t t, const char* name)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_setname_np)(t, name);
  if (strlen(name) >= sizeof g->name) return ERANGE;
  strcpy(g->name, name);
  return 0;
}

GREEN_HOOK(int, pthread_getname_np, (pthread_t t, char* buf, size_t len)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_getname_np)(t, buf, len);
  if (len < strlen(g->name) + 1 || len < 16) return ERANGE;
  strcpy(buf, g->name);
  return 0;
}

GREEN_HOOK(int, pthread_kill, (pthread_t t, int sig)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g && !greenlet_thread_id(t)) {
    SigCtx* main = main_thread_ctx(t);
    if (main == nullptr || sig <= 0 || sig >= NSIG) return REAL(pthread_kill)(t, sig);
    return signal_context(*main, tkill_info(sig));
  }
  if (sig < 0 || sig >= NSIG) return EINVAL;
  // A thread that has ended takes no signal, and it is no error (glibc's answer, also for
  // a joined thread's ID).
  if (sig == 0 || !g || g->dead()) return 0;
  return signal_context(g->sig, tkill_info(sig));
}

GREEN_HOOK(int, pthread_sigqueue, (pthread_t t, int sig, const union sigval value)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  SigCtx* main = g ? nullptr : main_thread_ctx(t);
  if (!g && main == nullptr) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_sigqueue)(t, sig, value);
  if (sig < 0 || sig >= NSIG) return EINVAL;
  if (g && g->dead()) return ESRCH;  // glibc: unlike pthread_kill, no thread to queue to
  if (sig == 0) return 0;
  siginfo_t info = tkill_info(sig);
  info.si_code = SI_QUEUE;
  info.si_value = value;
  return signal_context(g ? g->sig : *main, info);
}

GREEN_HOOK(int, pthread_cancel, (pthread_t t)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g && !greenlet_thread_id(t)) return REAL(pthread_cancel)(t);
  if (!g || g->dead() || g->unwinding) return 0;  // as pthread_kill
  g->cancel_requested = true;
  if (g->cancel_enabled) arm_cancel(g.get(), g);
  if (g.get() == current_thread()) act_on_async_cancel(g.get());  // asynchronous: now
  return 0;
}

GREEN_HOOK(int, pthread_setcancelstate, (int state, int* old)) {
  GREEN_BOOKKEEPING();
  GreenThread* self = current_thread();
  if (self == nullptr) return REAL(pthread_setcancelstate)(state, old);
  if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE) return EINVAL;
  if (old != nullptr) *old = self->cancel_enabled ? PTHREAD_CANCEL_ENABLE : PTHREAD_CANCEL_DISABLE;
  self->cancel_enabled = state == PTHREAD_CANCEL_ENABLE;
  if (self->cancel_enabled && self->cancel_requested && !self->unwinding) arm_cancel(self);
  act_on_async_cancel(self);
  return 0;
}

GREEN_HOOK(int, pthread_setcanceltype, (int type, int* old)) {
  GREEN_BOOKKEEPING();
  GreenThread* self = current_thread();
  if (self == nullptr) return REAL(pthread_setcanceltype)(type, old);
  if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS) return EINVAL;
  if (old != nullptr) *old = self->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
  self->cancel_async = type == PTHREAD_CANCEL_ASYNCHRONOUS;
  act_on_async_cancel(self);  // a pending request is acted on at once, as glibc does
  return 0;
}

GREEN_HOOK(void, pthread_testcancel, ()) {
  GREEN_BOOKKEEPING();
  if (current_thread() == nullptr) return REAL(pthread_testcancel)();
  test_cancel();
}
