// The hub: scheduling, switching and the libev loop (the only file that includes ev.h).
#include "hub.hpp"

#include <sys/prctl.h>
#include <cxxabi.h>
#include <ev.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <new>
#include <system_error>
#include <typeinfo>

#include "config.hpp"
#include "green/errors.hpp"
#include "local_slots.hpp"

namespace green::detail {

__thread Hub* tls_hub __attribute__((tls_model("initial-exec"))) = nullptr;
__thread int tls_no_hooks __attribute__((tls_model("initial-exec"))) = 0;

static_assert(sizeof(ev_timer) <= sizeof(TimerSlot::raw), "TimerSlot too small for ev_timer");

namespace {

thread_local std::unique_ptr<Hub> tls_owner;

// What a greenlet thread's stack must keep for itself beyond its TLS.
constexpr std::size_t kMinStackLeft = 8192;


struct TimerData {
  TimerCallback cb;
  void* arg;
  Deadline at;
};

void report_failure(const GreenletImpl* g) {
  if (!config().report_errors) return;
  const std::type_info* type = abi::__cxa_current_exception_type();
  int status = 0;
  char* name = type ? abi::__cxa_demangle(type->name(), nullptr, nullptr, &status) : nullptr;
  const char* shown = name ? name : (type ? type->name() : "unknown");
  std::string what = "(not a std::exception)";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "greenshim: greenlet %llu failed with %s: %s\n",
               static_cast<unsigned long long>(g->id()), shown, what.c_str());
  std::free(name);
}

}  // namespace

struct Hub::Kick {
  ev_async async;
  Hub* hub = nullptr;
  struct ev_loop* loop = nullptr;
  WaitQueue waiters;
  int waiting = 0;
  Kick* next_hub = nullptr;
};

class Hub::MainGreenlet final : public GreenletImpl {
 public:
  void run() override { std::abort(); }  // the main greenlet is the thread's own stack
};

class Hub::HubGreenlet final : public GreenletImpl {
 public:
  explicit HubGreenlet(Hub* h) : hub(h) {}
  void run() override { hub->loop(); }
  Hub* hub;
};

struct Hub::SignalWatch {
  ev_signal w;
  Hub* hub;
  int id;
  std::function<void()> handler;
};

Hub& Hub::create() {
  NoHooks guard;
  tls_owner = std::make_unique<Hub>();
  tls_hub = tls_owner.get();
  return *tls_hub;
}

Hub::Hub()
    : os_thread_(pthread_self()),  // the OS thread's own: hooks are off while a hub is made
      os_tid_(gettid()),
      tp_(tls::current()),
      stacks_(config().stack_size, config().stack_pool),
      budget_(kSwitchesPerClockCheck),
      last_poll_ns_(now_ns()),
      poll_interval_ns_(config().poll_interval_ns),
      eh_(reinterpret_cast<EhState*>(abi::__cxa_get_globals())),
      errno_(&errno) {
  // EVFLAG_NOSIGMASK: leave the program's signal mask alone. EVFLAG_NOENV: LIBEV_FLAGS
  // belongs to whatever program we are loaded into, not to us.
  loop_ = ev_loop_new(static_cast<unsigned>(EVBACKEND_EPOLL) | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
  if (loop_ == nullptr) loop_ = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
  if (loop_ == nullptr) throw std::system_error(errno, std::generic_category(), "green: ev_loop_new");
  main_ = std::make_shared<MainGreenlet>();
  main_->hub_ = this;
  main_->tp_ = tp_;
  main_->started_ = true;
  main_->state_ = GreenletImpl::State::running;
  current_ = main_.get();
  hub_g_ = std::make_shared<HubGreenlet>(this);
  hub_g_->hub_ = this;
  hub_g_->tp_ = tp_;
  hub_g_->stack_ = stacks_.acquire(0);
  if (hub_g_->stack_.base == nullptr) throw std::bad_alloc();
  hub_g_->ctx_ = fiber::make(StackPool::top(hub_g_->stack_), StackPool::usable(hub_g_->stack_),
                             &Hub::entry);
  hub_g_->started_ = true;
  kick_init();
  remote_init();
}

Hub::~Hub() {
  if (tls_hub == this) tls_hub = nullptr;
  // The kernel reads the system-call switch at every call from outside glibc: off before
  // its memory goes (prctl's PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF).
  if (syscall_trap_on_) {
    syscall_switch_ = kSyscallsPass;
    ::prctl(59, 0, 0, 0, 0);
    syscall_trap_on_ = false;
  }
  // Destroying the loop or the stacks from a fiber other than the main one would pull the
  // ground from under our own feet (exit() called inside a greenlet): leak instead.
  if (current_ != main_.get()) return;
  kick_->loop = nullptr;  // kick_all() may still walk the list from a signal handler
  for (auto& s : signals_) ev_signal_stop(loop_, &s->w);
  std::vector<int> watched;
  for (auto& s : signals_) watched.push_back(s->w.signum);
  signals_.clear();
  for (int signum : watched) release_signal(signum);
  destroy_locals(main_.get());
  for (Local& l : locals_) {
    if (l.value != nullptr) l.destroy(l.value);
  }
  locals_.clear();
  stacks_.release(hub_g_->stack_);
  hub_g_->stack_ = {};
  futexes_close();
  ev_loop_destroy(loop_);
}

void Hub::entry(fiber::Transfer t) noexcept {
  Hub* hub = tls_hub;
  hub->after_switch(t);
  GreenletImpl* self = hub->current_;
  if (!self->own_tls_) {
    *hub->eh_ = EhState{};
    *hub->errno_ = 0;
  }
  if (self->pending_) {
    // Killed before it ever ran: gevent does not run the body then, nor do we.
    self->killed_ = true;
    self->exception_ = self->pending_;
    self->clear_pending();
  } else {
    try {
      self->run();
    } catch (const GreenletExit&) {
      self->killed_ = true;
      self->exception_ = std::current_exception();
    } catch (...) {
      self->exception_ = std::current_exception();
      report_failure(self);
    }
  }
  hub->finish_current();
}

void Hub::finish_current() noexcept {
  GreenletImpl* self = current_;
  // The callable's captures and the greenlet-locals may run destructors that block; do it
  // while the greenlet can still park — but no longer be interrupted: an exception thrown
  // into a destructor would terminate the process.
  self->exiting_ = true;
  self->clear_pending();
  try {
    self->release_callable();
    destroy_locals(self);
  } catch (...) {
  }
  self->clear_pending();
  self->state_ = GreenletImpl::State::dead;
  self->joiners_.notify_all();
  // The switch target reaps us (after_switch): we cannot unmap the stack we stand on.
  switch_away();
  std::abort();  // a dead greenlet is never resumed
}

namespace {
std::int64_t os_thread_cpu_ns() noexcept {
  NoHooks off;  // the shim's clock_gettime would ask us again
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

void Hub::count_cpu(GreenletImpl* from) noexcept {
  const std::int64_t now = os_thread_cpu_ns();
  from->cpu_ns_ += now - cpu_mark_;
  cpu_mark_ = now;
}

std::int64_t Hub::cpu_time(const GreenletImpl* g) noexcept {
  if (!cpu_counting_) {
    cpu_counting_ = true;
    cpu_mark_ = os_thread_cpu_ns();
  }
  return g->cpu_ns_ + (g == current_ ? os_thread_cpu_ns() - cpu_mark_ : 0);
}

bool Hub::clock_says_poll() noexcept {
  budget_ = kSwitchesPerClockCheck;
  return now_ns() - last_poll_ns_ >= poll_interval_ns_;
}

void Hub::reap(GreenletImpl* g) noexcept {
  // A remote wake posted for one of its last waits may still name it: apply (or drop)
  // those while it exists.
  drain_remote();
  if (g->own_tls_) {
    tls::destroy(g->tp_, this);
    g->own_tls_ = false;
  }
  stacks_.release(g->stack_);
  g->stack_ = {};
  g->ctx_ = nullptr;
  std::shared_ptr<GreenletImpl> last = std::move(g->self_);  // may free g
}

void Hub::loop() {
  for (;;) {
    budget_ = kSwitchesPerClockCheck;
    last_poll_ns_ = now_ns();
    if (__builtin_expect(syscall_trap_on_ && syscall_switch_ == kSyscallsPass, 0)) syscall_switch_ = kSyscallsTrap;
    if (runq_.empty()) {
      const int alive = ev_run(loop_, EVRUN_ONCE);
      if (__builtin_expect(preempt_idle_.load(std::memory_order_relaxed), 0)) preempt_rearm();
      run_fired();
      if (runq_.empty() && alive == 0) {
        // Every greenlet is parked and no watcher can wake one: tell the main greenlet,
        // as gevent raises LoopExit, instead of sleeping forever.
        if (main_->state_ == GreenletImpl::State::parked) {
          wake(main_.get(), Wake::loop_exit);
        } else if (main_->state_ == GreenletImpl::State::vanished) {
          // A fork child whose one thread waits for what nothing can bring: it blocks for
          // good, as it would natively (signal handlers still run).
          for (;;) ::pause();
        } else {
          std::fprintf(stderr, "greenshim: every greenlet is blocked forever\n");
          std::abort();
        }
      }
    } else {
      ev_run(loop_, EVRUN_NOWAIT);
      run_fired();
    }
    if (GreenletImpl* g = runq_.pop()) switch_to(g);
  }
}

std::size_t Hub::new_local_key() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// Makes g runnable on the stack [top - size, top): its TLS first, if it owns one.
void Hub::prepare(GreenletImpl* g, void* top, std::size_t size, bool own_tls) {
  g->hub_ = this;
  g->tp_ = tp_;
  if (own_tls) {
    const std::size_t area = tls::area_size();
    if (size < area + kMinStackLeft) {
      throw std::system_error(EINVAL, std::generic_category(), "green: stack too small for the thread's TLS");
    }
    void* tp = tls::create(top, this);
    if (tp == nullptr) throw std::bad_alloc();
    g->tp_ = tp;
    g->own_tls_ = true;
    top = static_cast<char*>(top) - area;
    size -= area;
  }
  g->ctx_ = fiber::make(top, size, &Hub::entry);
  g->started_ = true;
  g->state_ = GreenletImpl::State::ready;
}

void Hub::spawn(std::shared_ptr<GreenletImpl> g, std::size_t stack_size, bool own_tls) {
  // A default stack keeps its full size for the thread: the TLS comes on top of it. A size
  // the program chose includes the TLS, as with glibc.
  if (own_tls && stack_size == 0) stacks_.reserve_top(tls::area_size());
  g->stack_ = stacks_.acquire(stack_size);
  if (g->stack_.base == nullptr) {
    throw std::system_error(errno, std::generic_category(), "green: cannot map a greenlet stack");
  }
  try {
    prepare(g.get(), StackPool::top(g->stack_), StackPool::usable(g->stack_), own_tls);
  } catch (...) {
    stacks_.release(g->stack_);
    g->stack_ = {};
    throw;
  }
  GreenletImpl* raw = g.get();
  raw->self_ = std::move(g);
  runq_.push(raw);
}

void Hub::spawn_on(std::shared_ptr<GreenletImpl> g, void* stack, std::size_t size, bool own_tls) {
  g->stack_ = StackArea{stack, size, false};
  try {
    prepare(g.get(), StackPool::top(g->stack_), size, own_tls);
  } catch (...) {
    g->stack_ = {};
    throw;
  }
  GreenletImpl* raw = g.get();
  raw->self_ = std::move(g);
  runq_.push(raw);
}

namespace {
std::atomic<Hub::SignalHook> signal_hook{nullptr};

// The shim's delivery of what is pending for `g`: whether a handler ended the wait.
bool deliver_signals(GreenletImpl* g, Eintr eintr) noexcept {
  if (__builtin_expect(!g->take_signal_note(), 1)) return false;
  const Hub::SignalHook hook = signal_hook.load(std::memory_order_acquire);
  return hook != nullptr && hook(g, eintr);
}
}  // namespace

void Hub::set_signal_hook(SignalHook hook) noexcept { signal_hook.store(hook, std::memory_order_release); }

Wake Hub::park(Deadline deadline, ParkPolicy policy, const AfterEnqueue* then) noexcept {
  GreenletImpl* self = current_;
  // A signal that became pending while it ran is delivered before it sleeps, as the kernel
  // would have delivered it on the way into the call.
  // Its handler's own waits are parks that came first: a caller's queue entry, made for
  // the park number that follows, could not be woken now; the caller tries again
  // (notified) unless the handler ends the wait.
  if (__builtin_expect(self->signal_note_.load(std::memory_order_relaxed), 0)) {
    const bool ended = deliver_signals(self, policy.eintr);
    if (then != nullptr && then->fn(then->arg) != 0) return Wake::none;
    return ended ? Wake::signaled : Wake::notified;
  }
  if (policy.interruptible && self->pending_ && self->hold_interrupts_ == 0) {
    if (then != nullptr && then->fn(then->arg) != 0) return Wake::none;
    return Wake::interrupted;
  }
  TimerSlot slot;
  if (deadline != kNoDeadline) {
    if (deadline <= now_ns()) {
      if (then != nullptr && then->fn(then->arg) != 0) return Wake::none;
      return Wake::timed_out;
    }
    timer_start(slot, deadline,
                [](void* g) { static_cast<GreenletImpl*>(g)->hub_->wake(static_cast<GreenletImpl*>(g), Wake::timed_out); },
                self);
  }
  ++self->park_seq_;
  self->state_ = GreenletImpl::State::parked;
  self->wake_ = Wake::none;
  self->interruptible_ = policy.interruptible;
  self->eintr_ = policy.eintr;
  if (then != nullptr && then->fn(then->arg) != 0) {
    self->state_ = GreenletImpl::State::running;
    self->interruptible_ = true;
    self->eintr_ = Eintr::never;
    if (slot.armed) timer_stop(slot);
    return Wake::none;
  }
  if (policy.remote) ev_ref(loop_);
  switch_away();
  if (policy.remote) ev_unref(loop_);
  self->interruptible_ = true;
  self->eintr_ = Eintr::never;
  if (slot.armed) timer_stop(slot);
  const Wake why = self->wake_;
  // Woken for a signal, or one came meanwhile: its handler runs here, in this greenlet.
  // Its own waits are parks of their own (park_seq_ moves on), so the wake of the wait
  // still queued here is not taken by them.
  const bool ended = deliver_signals(self, policy.eintr);
  if (why == Wake::signaled) return ended ? Wake::signaled : Wake::notified;
  return why;
}

bool Hub::wake(GreenletImpl* g, Wake why) noexcept {
  Hub* home = g->hub_;
  if (__builtin_expect(home == tls_hub, 1)) return home->wake_here(g, why);
  home->post(g, g->park_seq_, why);
  return true;
}

bool Hub::wake_park(GreenletImpl* g, std::uint32_t seq, Wake why) noexcept {
  Hub* home = g->hub_;
  if (__builtin_expect(home == tls_hub, 1)) return g->park_seq_ == seq && home->wake_here(g, why);
  home->post(g, seq, why);
  return true;
}

bool Hub::wake_here(GreenletImpl* g, Wake why) noexcept {
  if (g->state_ != GreenletImpl::State::parked) return false;
  g->wake_ = why;
  g->state_ = GreenletImpl::State::ready;
  runq_.push(g);
  return true;
}

// Wakes from other OS threads: queued under a lock, applied by this hub on its own thread
// (the async watcher's callback). Each names the park it was meant for, so that one that
// arrives after its wait ended otherwise (a timeout) cannot end a later, unrelated wait.
struct Hub::Remote {
  struct Entry {
    GreenletImpl* g;
    std::uint32_t seq;
    Wake why;
    // An interruption (post_interrupt): applied whatever the park, `keep` holds g.
    std::shared_ptr<GreenletImpl> keep;
    std::exception_ptr exc;
    const void* source = nullptr;
  };
  ev_async async;
  std::mutex mu;
  std::vector<Entry> entries;
  std::atomic<bool> pending{false};
};

void Hub::remote_init() {
  remote_ = new Remote;
  ev_async_init(&remote_->async, [](struct ev_loop*, ev_async* w, int) {
    static_cast<Hub*>(w->data)->drain_remote();
  });
  remote_->async.data = this;
  ev_async_start(loop_, &remote_->async);
  // Like gevent's, a loop with nothing else to watch ends (LoopExit), even if another
  // thread could still post: a cross-thread wait needs a timeout or other work.
  ev_unref(loop_);
}

void Hub::post(GreenletImpl* g, std::uint32_t seq, Wake why) noexcept {
  {
    InternalLock<std::mutex> lock(remote_->mu);
    remote_->entries.push_back({g, seq, why, nullptr, nullptr, nullptr});
    remote_->pending.store(true, std::memory_order_release);
  }
  ev_async_send(loop_, &remote_->async);
}

void Hub::post_interrupt(std::shared_ptr<GreenletImpl> g, std::exception_ptr exc, const void* source) noexcept {
  GreenletImpl* raw = g.get();
  {
    InternalLock<std::mutex> lock(remote_->mu);
    remote_->entries.push_back({raw, 0, Wake::interrupted, std::move(g), std::move(exc), source});
    remote_->pending.store(true, std::memory_order_release);
  }
  ev_async_send(loop_, &remote_->async);
}

void Hub::drain_remote() noexcept {
  if (!remote_->pending.load(std::memory_order_acquire)) return;
  std::vector<Remote::Entry> got;
  {
    InternalLock<std::mutex> lock(remote_->mu);
    got.swap(remote_->entries);
    remote_->pending.store(false, std::memory_order_relaxed);
  }
  for (auto& e : got) {
    if (e.keep) {
      interrupt(e.g, std::move(e.exc), e.source);
    } else if (e.g->park_seq_ == e.seq) {
      wake_here(e.g, e.why);
    }
  }
}



void Hub::vanish(GreenletImpl* g) noexcept {
  if (g == current_ || g->state_ == GreenletImpl::State::dead) return;
  if (g->state_ == GreenletImpl::State::ready) {
    RunQueue kept;
    while (GreenletImpl* r = runq_.pop()) {
      if (r != g) kept.push(r);
    }
    runq_ = kept;
  }
  g->state_ = GreenletImpl::State::vanished;
  g->pending_ = nullptr;
}

void Hub::interrupt(GreenletImpl* g, std::exception_ptr exc, const void* source) noexcept {
  if (g->state_ == GreenletImpl::State::dead || g->state_ == GreenletImpl::State::vanished || g->exiting_) return;
  g->pending_ = std::move(exc);
  g->pending_source_ = source;
  // A parked greenlet is woken to take it now; a ready or running one takes it at its next
  // blocking point, so that a wake-up already granted (a queue item) is never lost.
  if (g->interruptible_ && g->hold_interrupts_ == 0) wake(g, Wake::interrupted);
}

Wake Hub::wait_fd(int fd, int events, Deadline deadline, FdWaitList* list, ParkPolicy policy) noexcept {
  GreenletImpl* self = current_;
  ev_io w;
  ev_io_init(&w, [](struct ev_loop*, ev_io* io, int revents) {
    auto* g = static_cast<GreenletImpl*>(io->data);
    // EV_ERROR: libev found the fd invalid (closed behind our back) and stopped watching.
    g->hub_->wake(g, (revents & EV_ERROR) ? Wake::closed : Wake::notified);
  }, fd, ((events & 1) ? EV_READ : 0) | ((events & 2) ? EV_WRITE : 0));
  w.data = self;
  FdWait link;
  link.g = self;
  link.io = &w;
  if (list != nullptr) list->push(&link);
  ev_io_start(loop_, &w);
  const Wake r = park(deadline, policy);
  if (!link.closed) {
    ev_io_stop(loop_, &w);
    if (list != nullptr) list->remove(&link);
  }
  return link.closed ? Wake::closed : r;
}

Wake Hub::wait_fds(const int* fds, const int* events, std::size_t n, Deadline deadline,
                   ParkPolicy policy) noexcept {
  GreenletImpl* self = current_;
  constexpr std::size_t kInline = 16;
  ev_io inline_watchers[kInline];
  std::unique_ptr<ev_io[]> heap;
  ev_io* ws = inline_watchers;
  if (n > kInline) {
    heap.reset(new (std::nothrow) ev_io[n]);
    if (!heap) return Wake::interrupted;
    ws = heap.get();
  }
  std::size_t started = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (fds[i] < 0 || events[i] == 0) continue;
    ev_io_init(&ws[started], [](struct ev_loop*, ev_io* io, int) {
      auto* g = static_cast<GreenletImpl*>(io->data);
      g->hub_->wake(g, Wake::notified);
    }, fds[i], ((events[i] & 1) ? EV_READ : 0) | ((events[i] & 2) ? EV_WRITE : 0));
    ws[started].data = self;
    ev_io_start(loop_, &ws[started]);
    ++started;
  }
  const Wake r = park(deadline, policy);
  for (std::size_t i = 0; i < started; ++i) ev_io_stop(loop_, &ws[i]);
  return r;
}

void Hub::close_fd_waits(FdWaitList& list) noexcept {
  while (FdWait* w = list.head) {
    list.remove(w);
    ev_io_stop(loop_, static_cast<ev_io*>(w->io));
    w->closed = true;
    wake(w->g, Wake::notified);
  }
}

void Hub::timer_start(TimerSlot& slot, Deadline at, TimerCallback cb, void* arg) {
  auto* w = reinterpret_cast<ev_timer*>(slot.raw);
  if (slot.armed) ev_timer_stop(loop_, w);
  // libev measures from its cached loop time, which lags while greenlets run between
  // polls; refresh it so that a timer never fires before `at` (a sleep must not be short).
  ev_now_update(loop_);
  const double rel = static_cast<double>(std::max<Deadline>(0, at - now_ns())) / 1e9;
  ev_timer_init(w, [](struct ev_loop*, ev_timer* t, int) {
    tls_hub->fired_.push_back(t->data);  // run_fired() calls it, in deadline order
  }, rel, 0.0);
  static_assert(sizeof(ev_timer) + sizeof(TimerData) <= sizeof(slot.raw), "TimerSlot too small");
  auto* data = new (slot.raw + sizeof(ev_timer)) TimerData{cb, arg, at};
  w->data = data;
  ev_timer_start(loop_, w);
  slot.armed = true;
}

// libev orders timers by expiry times of its own (its clock read at timer_start, plus our
// delay), which can put two deadlines a fraction of a microsecond apart the other way
// round: timers that one poll found expired run in the order of our deadlines instead.
// Nothing runs a greenlet between the poll and this, so every slot here is still alive.
void Hub::run_fired() noexcept {
  if (fired_.empty()) return;
  std::stable_sort(fired_.begin(), fired_.end(), [](void* a, void* b) {
    return static_cast<TimerData*>(a)->at < static_cast<TimerData*>(b)->at;
  });
  for (void* p : fired_) {
    auto* d = static_cast<TimerData*>(p);
    d->cb(d->arg);
  }
  fired_.clear();
}

void Hub::timer_stop(TimerSlot& slot) noexcept {
  if (!slot.armed) return;
  ev_timer_stop(loop_, reinterpret_cast<ev_timer*>(slot.raw));
  slot.armed = false;
}


namespace {
std::atomic<Hub::Kick*>& kick_list() {
  static std::atomic<Hub::Kick*> head{nullptr};
  return head;
}
}  // namespace

namespace {
std::atomic<Hub::KickHook> kick_hook{nullptr};
}

void Hub::set_kick_hook(KickHook hook) noexcept { kick_hook.store(hook); }

void Hub::kick_init() {
  kick_ = new Kick;
  ev_async_init(&kick_->async, [](struct ev_loop*, ev_async* w, int) {
    auto* k = static_cast<Kick*>(w->data);
    if (KickHook hook = kick_hook.load()) hook(*k->hub);
    k->waiters.notify_all();
  });
  kick_->async.data = kick_;
  kick_->hub = this;
  kick_->loop = loop_;
  ev_async_start(loop_, &kick_->async);
  ev_unref(loop_);  // counts only while somebody waits (wait_kick)
  Kick* head = kick_list().load();
  do {
    kick_->next_hub = head;
  } while (!kick_list().compare_exchange_weak(head, kick_));
}

Wake Hub::wait_kick(Deadline deadline, ParkPolicy policy) noexcept {
  // While a greenlet waits for a kick, a real thread or a signal handler may still send
  // one: the loop is not dry, whatever else it watches.
  if (kick_->waiting++ == 0) ev_ref(loop_);
  const Wake w = wait_on_nothrow(kick_->waiters, deadline, policy);
  if (--kick_->waiting == 0) ev_unref(loop_);
  return w;
}

void Hub::kick() noexcept { ev_async_send(loop_, &kick_->async); }

void Hub::kick_all() noexcept {
  for (Kick* k = kick_list().load(); k != nullptr; k = k->next_hub) {
    if (struct ev_loop* loop = k->loop) ev_async_send(loop, &k->async);
  }
}

namespace {
// libev lets one loop at a time watch a signal (and aborts otherwise): which hub has each.
std::atomic<Hub*> signal_owner[NSIG];
}

int Hub::signal_add(int signum, std::function<void()> handler) {
  NoHooks guard;  // libev installs its handler and its wake-up pipe here
  Hub* expected = nullptr;
  if (!signal_owner[signum].compare_exchange_strong(expected, this) && expected != this) {
    throw std::system_error(EBUSY, std::generic_category(),
                            "green::signal: another thread's hub already handles this signal");
  }
  static int next_id = 0;
  auto s = std::make_unique<SignalWatch>();
  s->hub = this;
  s->id = ++next_id;
  s->handler = std::move(handler);
  ev_signal_init(&s->w, [](struct ev_loop*, ev_signal* w, int) {
    auto* sw = static_cast<SignalWatch*>(w->data);
    struct Run final : GreenletImpl {
      explicit Run(std::function<void()> f) : fn(std::move(f)) {}
      void run() override { fn(); }
      std::function<void()> fn;
    };
    try {
      sw->hub->spawn(std::make_shared<Run>(sw->handler), 0);
    } catch (...) {
      std::fprintf(stderr, "greenshim: cannot start a signal handler greenlet\n");
    }
  }, signum);
  s->w.data = s.get();
  ev_signal_start(loop_, &s->w);
  const int id = s->id;
  signals_.push_back(std::move(s));
  return id;
}

void Hub::signal_cancel(int id) noexcept {
  for (auto it = signals_.begin(); it != signals_.end(); ++it) {
    if ((*it)->id == id) {
      const int signum = (*it)->w.signum;
      ev_signal_stop(loop_, &(*it)->w);
      signals_.erase(it);
      release_signal(signum);
      return;
    }
  }
}

void Hub::release_signal(int signum) noexcept {
  for (const auto& s : signals_) {
    if (s->w.signum == signum) return;  // another handler of ours still watches it
  }
  Hub* self = this;
  signal_owner[signum].compare_exchange_strong(self, nullptr);
}

}  // namespace green::detail
