// The registry of greenlet threads (what a pthread_t names) and their cancellation: the
// state behind the thread hooks of thread.cpp, which keep no state of their own.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "thread.hpp"
#include "thread_table.hpp"

namespace gd = green::detail;

namespace green::shim {

namespace {

struct Registry {
  // Held for a map operation, by greenlets and real threads alike; never across a switch.
  gd::SpinLock mu;
  ThreadTable<GreenThread> threads;
  gd::WaitQueue exits;  // main greenlet's pthread_exit waits here for the last thread
  // A fork child made by a greenlet thread: the main thread vanished, so the process ends
  // with its last thread (exit(0), as glibc's last thread ends it).
  bool main_vanished = false;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: threads may outlive static dtors
  return *r;
}

pthread_t id_of(const GreenThread* t) { return reinterpret_cast<pthread_t>(t); }

}  // namespace

GreenThread* current_thread() noexcept {
  gd::Hub* hub = gd::Hub::current_if_exists();
  if (hub == nullptr) return nullptr;
  gd::GreenletImpl* g = hub->running();
  return g->origin == gd::GreenletImpl::Origin::pthread ? static_cast<GreenThread*>(g) : nullptr;
}

std::shared_ptr<GreenThread> find_thread(pthread_t t) {
  Registry& r = registry();
  std::lock_guard<gd::SpinLock> lock(r.mu);
  return r.threads.get(t);
}

void forget_thread(GreenThread* t) {
  Registry& r = registry();
  std::shared_ptr<GreenThread> last;  // may free t: not under the lock
  std::lock_guard<gd::SpinLock> lock(r.mu);
  last = r.threads.erase(id_of(t));
}

namespace {
std::atomic<bool> real_threads{false};
}

void note_real_thread() noexcept { real_threads.store(true, std::memory_order_relaxed); }
bool real_threads_started() noexcept { return real_threads.load(std::memory_order_relaxed); }

std::shared_ptr<GreenThread> find_thread_by_tid(int tid) {
  Registry& r = registry();
  std::lock_guard<gd::SpinLock> lock(r.mu);
  std::shared_ptr<GreenThread> found;
  r.threads.for_each([&](const GreenThread& t) {
    if (t.tid == tid && !t.dead()) found = r.threads.get(id_of(&t));
  });
  return found;
}

pthread_t register_thread(const std::shared_ptr<GreenThread>& t) {
  t->tid = new_thread_tid();
  Registry& r = registry();
  std::lock_guard<gd::SpinLock> lock(r.mu);
  r.threads.insert(id_of(t.get()), t);
  return id_of(t.get());
}

void thread_finished(GreenThread* t) {
  if (t->detached) forget_thread(t);
  Registry& r = registry();
  r.exits.notify_all();
  if (r.main_vanished) {
    bool others = false;
    {
      std::lock_guard<gd::SpinLock> lock(r.mu);
      r.threads.for_each([&](const GreenThread& o) { others = others || (&o != t && !o.dead()); });
    }
    if (!others) std::exit(0);
  }
}

void threads_after_fork() {
  Registry& r = registry();
  r.mu.unlock();  // another OS thread of the parent may have held it
  gd::Hub* hub = gd::Hub::current_if_exists();
  const gd::GreenletImpl* self = hub != nullptr ? hub->running() : nullptr;
  if (hub != nullptr) signals_after_fork(hub->running());  // before the others are freed
  std::vector<GreenThread*> gone;
  r.threads.for_each([&](const GreenThread& t) {
    if (&t != self) gone.push_back(const_cast<GreenThread*>(&t));
  });
  std::vector<std::shared_ptr<GreenThread>> drop;  // freed outside the lock's scope
  for (GreenThread* t : gone) {
    if (t->hub() == hub) hub->vanish(t);
    drop.push_back(r.threads.erase(id_of(t)));
  }
  if (self != nullptr && self->origin == gd::GreenletImpl::Origin::pthread) {
    hub->vanish(hub->main_greenlet());
    r.main_vanished = true;
  }
}

gd::Wake wait_for_every_thread() noexcept {
  Registry& r = registry();
  for (;;) {
    bool alive = false;
    {
      std::lock_guard<gd::SpinLock> lock(r.mu);
      r.threads.for_each([&](const GreenThread& t) { alive = alive || !t.dead(); });
    }
    if (!alive) return gd::Wake::notified;
    if (gd::wait_on_nothrow(r.exits, gd::kNoDeadline) == gd::Wake::loop_exit) return gd::Wake::loop_exit;
  }
}

const std::exception_ptr& cancellation() {
  static const std::exception_ptr* e = new std::exception_ptr(std::make_exception_ptr(ThreadUnwind{PTHREAD_CANCELED}));
  return *e;
}

void test_cancel() {
  GreenThread* self = current_thread();
  if (self == nullptr || !self->cancel_enabled || self->unwinding) return;
  if (self->has_pending()) self->raise_pending();
  if (self->cancel_requested) {
    self->cancel_requested = false;
    self->exit(PTHREAD_CANCELED);
  }
}

bool async_cancel_due(const gd::GreenletImpl* g) noexcept {
  if (g == nullptr || g->origin != gd::GreenletImpl::Origin::pthread) return false;
  const auto* t = static_cast<const GreenThread*>(g);
  return t->cancel_async && t->cancel_enabled && !t->unwinding && t->glibc_unwind && t->pending() == cancellation();
}

void act_on_async_cancel(gd::GreenletImpl* g) {
  if (async_cancel_due(g)) static_cast<GreenThread*>(g)->raise_pending();
}

gd::ParkPolicy lock_wait_policy(bool remote) noexcept {
  const GreenThread* t = current_thread();
  const bool async = t != nullptr && t->cancel_async && t->cancel_enabled && t->glibc_unwind;
  return {async, gd::Eintr::never, remote};
}

namespace {
const bool preempt_hook_set = (gd::Hub::set_preempt_hook(&act_on_async_cancel), true);
}  // namespace

void arm_cancel(GreenThread* t, std::shared_ptr<GreenThread> keep) {
  t->cancel_requested = false;
  gd::interrupt(t, cancellation(), nullptr, std::move(keep));
}

}  // namespace green::shim
