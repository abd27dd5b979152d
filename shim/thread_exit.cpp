// How a greenlet thread ends: as glibc's start_thread ends a thread. pthread_exit and
// cancellation are glibc's forced unwind, which runs the C cleanup handlers that
// pthread_cleanup_push chained in the thread's TCB and the C++ destructors of the frames it
// leaves, and which stops at a cleanup buffer that the thread's base frame registered.
// glibc can do this for a greenlet thread because the thread owns its TCB (runtime/tls.hpp).
#include <pthread.h>
#include <setjmp.h>

#include "../runtime/tls.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

// Runs `stage` below a cleanup buffer of its own, the last one a forced unwind reaches: its
// jump comes back here. Returns false when it did (pthread_exit left the stage).
bool run_unwindable(void (*stage)(GreenThread*), GreenThread* t) {
  __pthread_unwind_buf_t buf;
  if (__sigsetjmp(reinterpret_cast<struct __jmp_buf_tag*>(buf.__cancel_jmp_buf), 0) != 0) {
    *gd::tls::cleanup_buffer_slot() = nullptr;
    return false;
  }
  // glibc's own words of the buffer (previous buffer, old-style cleanup, cancel type): set
  // after the setjmp, as start_thread sets them, since they may share its spare room.
  buf.__pad[0] = nullptr;
  buf.__pad[1] = nullptr;
  buf.__pad[2] = nullptr;
  void** slot = gd::tls::cleanup_buffer_slot();
  *slot = &buf;
  stage(t);
  *slot = nullptr;
  return true;
}

}  // namespace

bool GreenThread::run_stage(void (*stage)(GreenThread*)) {
  try {
    if (glibc_unwind) return run_unwindable(stage, this);
    stage(this);
    return true;
  } catch (const ThreadUnwind& u) {
    retval = u.value;
    return false;
  } catch (...) {
    if (!escaped_) escaped_ = std::current_exception();
    return true;
  }
}

void GreenThread::run() {
  const bool own_tls = owns_tls();
  glibc_unwind = own_tls && gd::tls::cleanup_buffer_slot() != nullptr;
  if (own_tls) gd::tls::thread_start();
  run_stage([](GreenThread* t) { t->retval = t->start(t->arg); });
  // glibc's order at thread exit: thread_local destructors, key destructors, then what
  // libc allocated for the thread. A destructor that calls pthread_exit ends itself only;
  // the rest still run.
  if (own_tls) {
    while (!run_stage([](GreenThread*) { gd::tls::run_thread_dtors(); })) {
    }
  }
  while (!run_stage([](GreenThread*) { run_key_destructors(); })) {
  }
  if (own_tls) gd::tls::thread_end();
  sig_ctx_detach(sig);
  thread_finished(this);
  if (escaped_) std::rethrow_exception(escaped_);
}

void GreenThread::exit(void* value) {
  retval = value;
  unwinding = true;
  // A cancel that arrived meanwhile would interrupt the cleanup handlers' own waits.
  if (pending() == cancellation()) clear_pending();
  if (glibc_unwind && *gd::tls::cleanup_buffer_slot() != nullptr) {
    REAL(pthread_exit)(value);
  }
  throw ThreadUnwind{value};
}

void GreenThread::raise_pending() {
  std::exception_ptr e = take_pending();
  if (e == cancellation()) exit(PTHREAD_CANCELED);
  std::rethrow_exception(e);
}
