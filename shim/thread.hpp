// Greenlet threads: what pthread_create makes under the shim, and how a pthread_t names one
// (thread_registry.cpp keeps the registry and cancellation; thread.cpp the hooks).
//
// A greenlet thread's pthread_t is the address of its GreenThread. glibc would dereference
// it as a struct pthread, so every function that takes a pthread_t is interposed and checks
// the registry first; an ID not in it is a real thread's and goes to libc.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "green/detail/greenlet_impl.hpp"
#include "hook.hpp"
#include "signal_state.hpp"

namespace green::shim {

// Unwinds a greenlet thread (pthread_exit, cancellation) where glibc's own forced unwind
// cannot (the probe found no cleanup buffer in the TCB): C++ destructors run, C cleanup
// handlers do not, and a `catch (...)` that does not rethrow stops it. (libstdc++'s
// abi::__forced_unwind cannot be derived from: its destructor is private.)
struct ThreadUnwind {
  void* value;
};

struct GreenThread final : detail::GreenletImpl {
  GreenThread(void* (*fn)(void*), void* a, bool det) : start(fn), arg(a), detached(det) {
    origin = Origin::pthread;
  }
  // glibc's start_thread: the start routine, then thread_local and key destructors.
  void run() override;
  // Ends the calling thread with `value` (pthread_exit, a cancellation acted on). With its
  // own TLS, by glibc's pthread_exit: a forced unwind that runs C cleanup handlers and C++
  // destructors as on a real thread. Else by throwing ThreadUnwind.
  [[noreturn]] void exit(void* value);
  // A pending cancellation ends the thread by exit(); anything else is thrown.
  [[noreturn]] void raise_pending() override;

  void* (*start)(void*);
  void* arg;
  void* retval = nullptr;
  bool detached;
  bool joined = false;
  // Cancellation (deferred only): a request waits while cancel_enabled is false.
  bool cancel_enabled = true;
  bool cancel_async = false;
  bool cancel_requested = false;
  bool unwinding = false;     // pthread_exit or a cancellation is unwinding it: no new cancel
  bool glibc_unwind = false;  // exit() is glibc's forced unwind
  char name[16] = {};
  int tid = 0;  // what gettid() gives it (thread_id.cpp)
  SigCtx sig;   // its signal mask and pending signals
  // Its scheduling policy and priority, its own (thread_sched.cpp); set at creation.
  int sched_policy = SCHED_OTHER;
  sched_param sched{};

 private:
  // Runs one step of run(); false if pthread_exit left it (the next step follows).
  bool run_stage(void (*stage)(GreenThread*));
  std::exception_ptr escaped_;  // from the start routine; reported once the thread is torn down
};

// The OS thread a greenlet thread runs on, for the calls that act on OS threads.
inline pthread_t host_of(const std::shared_ptr<GreenThread>& g) { return g->hub()->os_thread(); }

// The calling greenlet as a thread, or nullptr (the main greenlet, an API greenlet, or a
// real thread).
GreenThread* current_thread() noexcept;
// The greenlet thread a pthread_t names, kept alive by the returned reference; empty if
// `t` is not one (a real thread's ID, or one already joined).
std::shared_ptr<GreenThread> find_thread(pthread_t t);
// A new greenlet thread, in the range of address space that greenlet threads' IDs come from
// (thread_arena.cpp).
std::shared_ptr<GreenThread> new_thread(void* (*fn)(void*), void* arg, bool detached);
// Whether `t` is in that range: a greenlet thread's ID, alive or not. An ID that is in it
// but that find_thread() does not know names an ended thread (ESRCH).
bool greenlet_thread_id(pthread_t t) noexcept;
// Forgets a thread that was joined, or that finished detached.
void forget_thread(GreenThread* t);
// Called by a thread's run() as its last act: forgets it if detached, tells its waiters.
void thread_finished(GreenThread* t);
// In a fork() child: every greenlet thread but the caller vanishes (never runs again, its
// ID names no thread); if the caller is a greenlet thread, the main thread vanishes too.
void threads_after_fork();
// Runs the key destructors of the calling context (key.cpp). A destructor may call
// pthread_exit.
void run_key_destructors();
// Records a new greenlet thread; returns its pthread_t.
pthread_t register_thread(const std::shared_ptr<GreenThread>& t);
// Parks until every greenlet thread has finished (the main thread's pthread_exit);
// Wake::loop_exit if some never can.
detail::Wake wait_for_every_thread() noexcept;
// Acts on the cancellation if one is pending and enabled (a cancellation point).
void test_cancel();
// What a cancellation throws into its thread (ThreadUnwind{PTHREAD_CANCELED}), one object
// so that raise_pending() knows it.
const std::exception_ptr& cancellation();
// Whether an asynchronous cancellation can end `g` at the instruction it is at (a tick
// that interrupted its own code, or its yield there): a greenlet thread, cancel type
// asynchronous and enabled, a request armed, and glibc's forced unwind available.
bool async_cancel_due(const detail::GreenletImpl* g) noexcept;
// Acts on that cancellation if it is due for the calling thread (pthread_cancel of itself,
// pthread_setcanceltype/setcancelstate making it due, a preempted thread's yield).
void act_on_async_cancel(detail::GreenletImpl* g);
// The policy of a wait that POSIX lets nothing interrupt (a mutex, rwlock or barrier):
// only an asynchronous cancellation of the calling thread ends it (then act on it with
// act_on_async_cancel: a thread that deadlocked itself can still be cancelled).
detail::ParkPolicy lock_wait_policy(bool remote) noexcept;
// Makes a cancel request take effect at the thread's next cancellation point: the pending
// exception is what every blocking hook throws when it parks. `keep` (a reference to t) lets
// a real thread or another hub's greenlet cancel it.
void arm_cancel(GreenThread* t, std::shared_ptr<GreenThread> keep = {});
// A new thread's scheduling, from `attr` (PTHREAD_EXPLICIT_SCHED) or its creator's: 0, or
// the error pthread_create reports (EINVAL, EPERM), as glibc checks it.
int init_thread_sched(GreenThread& t, const pthread_attr_t* attr);
// The live greenlet thread whose gettid() is `tid`, or empty.
std::shared_ptr<GreenThread> find_thread_by_tid(int tid);
// A new thread's gettid() (thread_id.cpp).
int new_thread_tid() noexcept;
// Sends `info.si_signo` to the thread whose context `c` is, as the kernel sends to a
// thread: ignored, its default action, or pending for it and its handler run there. An
// errno value.
int signal_context(SigCtx& c, const siginfo_t& info);
// The context of the main thread if `t` names it (its hub's OS thread, seen from a
// greenlet of that hub), else nullptr: a signal to it must not reach the kernel, which
// would give it to whichever greenlet runs.
SigCtx* main_thread_ctx(pthread_t t) noexcept;
// A siginfo as tgkill() and pthread_kill() fill it (SI_TKILL from this process).
siginfo_t tkill_info(int sig);
// Records that a real OS thread was started while the hooks were active.
void note_real_thread() noexcept;
// Whether a real OS thread was started while the hooks were active (GREEN_THREADS=real,
// GREEN_REAL_THREADS): waits on state such a thread may change must then also poll.
bool real_threads_started() noexcept;

}  // namespace green::shim
