// The hub: one per OS thread, created on first use, never a process-wide singleton.
//
// It owns the thread's libev loop, which runs in a fiber of its own (the hub greenlet);
// the thread's original stack is the main greenlet. A greenlet that blocks parks: it
// gives up the CPU, directly to the next ready greenlet when there is one (two switches
// per yield round trip, not four), else to the hub, which polls. After GREEN_POLL_US of
// direct switches the hub gets the CPU anyway, so I/O and timers are never starved by
// greenlets that only yield to each other. Ready greenlets run in FIFO order.
#pragma once

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "fiber.hpp"
#include "netpoll.hpp"
#include "green/detail/core.hpp"
#include "green/detail/greenlet_impl.hpp"
#include "stack.hpp"
#include "tls.hpp"

struct ev_loop;

namespace green::detail {

// Direct switches between two looks at the clock: reading it costs about as much as a
// switch, so it is not done on each.
inline constexpr int kSwitchesPerClockCheck = 64;

struct RunQueue {
  GreenletImpl* head = nullptr;
  GreenletImpl* tail = nullptr;

  bool empty() const noexcept { return head == nullptr; }
  void push(GreenletImpl* g) noexcept {
    g->next_ready_ = nullptr;
    if (tail != nullptr) tail->next_ready_ = g; else head = g;
    tail = g;
  }
  GreenletImpl* pop() noexcept {
    GreenletImpl* g = head;
    if (g != nullptr) {
      head = g->next_ready_;
      if (head == nullptr) tail = nullptr;
    }
    return g;
  }
};

class Hub;
// initial-exec: the hub pointer is read on every switch and every hook; the default
// global-dynamic model would call __tls_get_addr each time. A few bytes of static TLS are
// available even to a library loaded with LD_PRELOAD.
// __thread, not thread_local: a C++ extern thread_local is reached through an init-wrapper
// call on every access; these need no dynamic initialisation.
extern __thread Hub* tls_hub __attribute__((tls_model("initial-exec"), visibility("default")));
// Non-zero while the runtime calls into libev or libc from a greenlet: the shim's hooks
// must then pass straight through (libev's own pipe(), fcntl(), sigaction()).
extern __thread int tls_no_hooks __attribute__((tls_model("initial-exec"), visibility("default")));

struct NoHooks {
  NoHooks() noexcept { ++tls_no_hooks; }
  ~NoHooks() { --tls_no_hooks; }
  NoHooks(const NoHooks&) = delete;
  NoHooks& operator=(const NoHooks&) = delete;
};

// A lock for the runtime's and the shim's own data shared with real threads: taken with
// the hooks off, so it is glibc's mutex for every caller (a greenlet holds it only for a
// few instructions, never across a switch).
template <class Mutex>
struct InternalLock {
  explicit InternalLock(Mutex& m) : lock(m) {}
  NoHooks off;
  std::unique_lock<Mutex> lock;
};

// A greenlet parked on an fd, linked into that fd's list so that close() can wake it.
struct FdWait {
  GreenletImpl* g = nullptr;
  FdWait* prev = nullptr;
  FdWait* next = nullptr;
  void* io = nullptr;      // the libev watcher, on the waiter's stack
  bool closed = false;     // set when close() of the fd woke it
};
struct FdWaitList {
  FdWait* head = nullptr;
  void push(FdWait* w) noexcept {
    w->next = head;
    w->prev = nullptr;
    if (head != nullptr) head->prev = w;
    head = w;
  }
  void remove(FdWait* w) noexcept {
    if (w->prev != nullptr) w->prev->next = w->next; else if (head == w) head = w->next;
    if (w->next != nullptr) w->next->prev = w->prev;
    w->prev = w->next = nullptr;
  }
};

class GREEN_EXPORT Hub {
 public:
  // This thread's hub, created on first use.
  static Hub& current() {
    if (__builtin_expect(tls_hub != nullptr, 1)) return *tls_hub;
    return create();
  }
  // This thread's hub if one exists; never creates.
  static Hub* current_if_exists() noexcept { return tls_hub; }

  Hub();
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  GreenletImpl* running() const noexcept { return current_; }
  GreenletImpl* main_greenlet() const noexcept { return main_.get(); }
  std::shared_ptr<GreenletImpl> main_handle() const noexcept { return main_; }
  bool in_hub_fiber() const noexcept { return current_ == hub_g_.get(); }
  // The OS thread this hub runs on (what a signal to one of its greenlets is sent to).
  pthread_t os_thread() const noexcept { return os_thread_; }
  // Its kernel thread ID, and its OS thread's own thread pointer (the hub's TLS).
  int os_tid() const noexcept { return os_tid_; }
  void* thread_pointer() const noexcept { return tp_; }

  // State a subsystem keeps per hub, such as the shim's tables of greenlets parked by
  // address: per hub, not thread_local, since greenlet threads each own their TLS.
  template <class T>
  T& local() {
    const std::size_t key = local_key<T>();
    if (key >= locals_.size()) locals_.resize(key + 1);
    Local& slot = locals_[key];
    if (slot.value == nullptr) slot = {new T(), [](void* p) { delete static_cast<T*>(p); }};
    return *static_cast<T*>(slot.value);
  }
  // Same, or nullptr if nobody made it yet: allocates nothing (a wake from a signal handler).
  template <class T>
  T* find_local() noexcept {
    const std::size_t key = local_key<T>();
    return key < locals_.size() ? static_cast<T*>(locals_[key].value) : nullptr;
  }
  // The shim's signal state of this hub: one word its signal handler reads, where local()'s
  // table could be moving under it.
  std::atomic<void*> signal_state{nullptr};

  // With own_tls, the greenlet gets a TLS of its own at its stack's top (tls.hpp).
  void spawn(std::shared_ptr<GreenletImpl> g, std::size_t stack_size, bool own_tls = false);
  // Same, on memory the caller provides (pthread_attr_setstack); never freed by us.
  void spawn_on(std::shared_ptr<GreenletImpl> g, void* stack, std::size_t size, bool own_tls = false);
  // Gives up the CPU until wake() or the deadline. Returns why it runs again.
  // `then`, if given, runs once the greenlet counts as parked, or before park returns at
  // once (AfterEnqueue): a waker that needs what it releases finds the greenlet parked.
  Wake park(Deadline deadline, ParkPolicy policy = {}, const AfterEnqueue* then = nullptr) noexcept;
  // Makes a parked greenlet ready, through its own hub whoever calls: on that hub's
  // thread, straight into its run queue (false, and nothing done, unless it is parked);
  // from any other thread, onto that hub's remote list with a kick (true: the hub applies
  // it if the greenlet is still in the same park). A remote waker must hold the lock that
  // guards the waiter's queue (Event's), so that the wait it names cannot end unseen.
  static bool wake(GreenletImpl* g, Wake why) noexcept;
  // Same, only if g is still in park number `seq` (a Waiter's).
  static bool wake_park(GreenletImpl* g, std::uint32_t seq, Wake why) noexcept;
  // Lets every ready greenlet run once.
  void yield() noexcept;
  // Whether ready greenlets have run back to back long enough that the hub must poll.
  bool poll_due() noexcept;
  void interrupt(GreenletImpl* g, std::exception_ptr exc, const void* source) noexcept;
  // interrupt() from another OS thread: queued on the remote list, applied by this hub.
  void post_interrupt(std::shared_ptr<GreenletImpl> g, std::exception_ptr exc, const void* source) noexcept;
  // Parks until `fd` is ready for `events` (EV_READ/EV_WRITE bits as POLLIN/POLLOUT-like
  // flags: 1 = read, 2 = write) or the deadline.
  // With `list`, the wait is registered there so that close_fd_waits() can end it.
  Wake wait_fd(int fd, int events, Deadline deadline, FdWaitList* list = nullptr,
               ParkPolicy policy = {}) noexcept;
  // Stops every wait in `list` and wakes its greenlet with FdWait::closed set; called
  // before the fd is really closed, so libev never watches a closed or reused fd.
  void close_fd_waits(FdWaitList& list) noexcept;

  // The netpoller (netpoll.hpp). register fails (false) if epoll refuses the fd, e.g. a
  // regular file; the caller then waits through wait_fd() instead. `pd` must outlive the
  // process's use of the fd (it is never freed by the shim).
  bool netpoll_register(int fd, PollDesc& pd) noexcept;
  void netpoll_unregister(int fd, PollDesc& pd) noexcept;
  // dir: 1 = read, 2 = write. Returns notified (retry the call), timed_out, closed,
  // interrupted or signaled.
  Wake netpoll_wait(PollDesc& pd, int dir, Deadline deadline, ParkPolicy policy = {}) noexcept;
  // After a call that succeeded on `pd`: the next waiter in that direction tries too.
  void netpoll_pass(PollDesc& pd, int dir) noexcept;

  // Parks until any of `n` fds is ready for its events (1 = read, 2 = write) or the
  // deadline; the caller asks the kernel which (poll with a zero timeout).
  Wake wait_fds(const int* fds, const int* events, std::size_t n, Deadline deadline,
                ParkPolicy policy = {}) noexcept;

  // Runs `fn` on a real helper thread (for calls no hook can make cooperative, such as
  // glibc's name resolution) while the calling greenlet parks. Always waits for `fn` to
  // finish, even if interrupted meanwhile: `fn` may use the caller's stack.
  void offload(std::function<void()> fn);

  void timer_start(TimerSlot& slot, Deadline at, TimerCallback cb, void* arg);
  void timer_stop(TimerSlot& slot) noexcept;

  // Runs `handler` in a new greenlet each time `signum` arrives. Returns an id for
  // signal_cancel().
  int signal_add(int signum, std::function<void()> handler);
  void signal_cancel(int id) noexcept;
  void release_signal(int signum) noexcept;

  StackPool& stacks() noexcept { return stacks_; }

  // In a child after fork(): the loop's kernel objects (epoll sets, eventfds) are shared
  // with the parent until remade. Remakes them; the netpoller's registrations are lost
  // (PollDescs of this hub are detached), so the caller re-registers its fds.
  void after_fork() noexcept;
  // In a child after fork(): `g`, a thread of the parent other than the one that forked,
  // never runs again, as POSIX has the child's other threads vanish: no wake or interrupt
  // reaches it. Its stack stays mapped: the pages are the parent's, shared copy-on-write,
  // and they hold the wait records that objects the child goes on using may still link.
  void vanish(GreenletImpl* g) noexcept;
  // Offload workers do not survive fork(): forget them (called in the child).
  static void offload_after_fork() noexcept;

  // Parks until a FUTEX_WAKE on `addr` from any thread or process, the deadline, or what
  // `policy` lets end it; `shared`: a futex of shared memory (a process-shared object).
  // Returns at once (notified) if *addr != expected. Wake::none where the kernel cannot do
  // it (no io_uring futex waits, before Linux 6.7): the caller polls instead.
  Wake futex_wait(std::uint32_t* addr, std::uint32_t expected, bool shared, Deadline deadline,
                  ParkPolicy policy = {}) noexcept;

  // Parks until kick() (from any thread, or a signal handler) or the deadline: for waits
  // on state that something outside the hub may change (a semaphore posted from a signal
  // handler, a futex woken by a real thread). Callers re-check their condition.
  Wake wait_kick(Deadline deadline, ParkPolicy policy) noexcept;
  // Wakes every wait_kick() of this hub. Async-signal-safe and thread-safe.
  void kick() noexcept;
  // Calls kick() on every hub. Async-signal-safe.
  static void kick_all() noexcept;
  // Runs on the hub fiber of each kicked hub, before its kick waiters wake (the shim uses
  // it to turn a signal handler's run into EINTR for the right greenlet).
  using KickHook = void (*)(Hub& hub);
  static void set_kick_hook(KickHook hook) noexcept;
  // Runs in a greenlet whose signal note is set, on its own stack, when it parks and when
  // its park ends (the shim delivers its pending signals there). Returns whether a handler
  // ran that ends a wait of policy `eintr`: the park then returns Wake::signaled; a park
  // that a signal woke but that no handler ends returns notified (try again).
  using SignalHook = bool (*)(GreenletImpl* self, Eintr eintr);
  static void set_signal_hook(SignalHook hook) noexcept;

  // CPU time per greenlet (a thread's CPU-time clock), counted from the first call on this
  // hub: from then on each switch reads the OS thread's CPU clock (a system call), so it
  // costs nothing until a program asks.
  std::int64_t cpu_time(const GreenletImpl* g) noexcept;

  // Preemption (hub_preempt.cpp). A per-hub timer sends kPreemptSignal to the hub's OS
  // thread every `interval_ns`; the shim's signal handler gives each tick to
  // preempt_tick(). The timer stops while the hub sits idle, and starts again when it runs
  // greenlets. Returns false if the timer cannot be made.
  static constexpr int kPreemptSignal = SIGURG;
  bool preempt_start(long interval_ns) noexcept;
  bool preempt_enabled() const noexcept { return preempt_on_; }
  // Whether a signal is this hub's tick.
  bool is_preempt_tick(const siginfo_t* info) const noexcept;
  // On a tick, in the signal handler: whether the running greenlet has run since the
  // previous tick without a switch (and the hub is not idle, else the timer stops).
  bool preempt_due() noexcept;
  // Makes the interrupted greenlet (uctx: the signal's context) yield once the handler has
  // returned, as if it had called sched_yield() where it was (Go's asynchronous preemption).
  static void preempt_inject(void* uctx) noexcept;
  // Runs in a preempted greenlet thread, before and after its yield, in its own context
  // with every register saved and an unwind table to the interrupted instruction: the
  // shim acts there on an asynchronous cancellation (by glibc's forced unwind).
  using PreemptHook = void (*)(GreenletImpl* self);
  static void set_preempt_hook(PreemptHook hook) noexcept;
  // The preempted greenlet's yield: the hub, kept from polling for a whole interval, polls
  // before the ready greenlets run.
  void preempt_yield() noexcept {
    budget_ = 1;
    yield();
  }
  // Whether the CPU state a saving stub needs (XSAVE) is there (saving_stub.hpp).
  static bool stub_usable() noexcept;

  // The Syscall User Dispatch switch of the hub's OS thread (shim/syscall_trap.cpp): the
  // kernel reads it at every system call made outside glibc, which traps while it is
  // kSyscallsTrap. Paused (kSyscallsPass) for a call that must run untrapped, it traps
  // again from the hub's next poll on.
  static constexpr char kSyscallsPass = 0, kSyscallsTrap = 1;
  volatile char* syscall_switch() noexcept { return &syscall_switch_; }
  void syscall_trap_started() noexcept { syscall_trap_on_ = true; }
  bool syscall_trap_on() const noexcept { return syscall_trap_on_; }

 private:
  class HubGreenlet;
  class MainGreenlet;
  struct SignalWatch;
  struct Offloads;
  friend struct Offloads;

 public:
  struct Kick;

 private:

  static Hub& create();
  void kick_init();
  static void entry(fiber::Transfer t) noexcept;
  void switch_to(GreenletImpl* to) noexcept;
  void after_switch(fiber::Transfer t) noexcept;
  void switch_away() noexcept;
  [[noreturn]] void finish_current() noexcept;
  void reap(GreenletImpl* g) noexcept;
  bool clock_says_poll() noexcept;
  void loop();

  struct Local {
    void* value = nullptr;
    void (*destroy)(void*) = nullptr;
  };
  static std::size_t new_local_key() noexcept;
  template <class T>
  static std::size_t local_key() noexcept {
    static const std::size_t key = new_local_key();
    return key;
  }
  void prepare(GreenletImpl* g, void* top, std::size_t size, bool own_tls);

  struct ev_loop* loop_;
  pthread_t os_thread_;
  int os_tid_;
  void* tp_;
  std::vector<Local> locals_;
  RunQueue runq_;
  GreenletImpl* current_;
  std::shared_ptr<GreenletImpl> main_;
  std::shared_ptr<GreenletImpl> hub_g_;
  StackPool stacks_;
  int budget_;                 // direct switches left before the next clock check
  bool cpu_counting_ = false;
  std::int64_t cpu_mark_ = 0;   // the OS thread's CPU time when current_ got the CPU
  void count_cpu(GreenletImpl* from) noexcept;
  // What the previous tick saw: a tick that finds the same greenlet running, no switch
  // away since (budget_ counts them down) and no poll, preempts it.
  int tick_budget_ = 0;
  std::int64_t tick_poll_ns_ = 0;
  const GreenletImpl* tick_current_ = nullptr;
  bool same_as_last_tick() noexcept;
  int idle_ticks_ = 0;
  void* preempt_timer_ = nullptr;  // timer_t (the kernel's first timer is 0: preempt_on_ says)
  bool preempt_on_ = false;
  long preempt_interval_ns_ = 0;
  std::atomic<bool> preempt_idle_{false};  // the timer is stopped: the hub idled
  void preempt_rearm() noexcept;
  void preempt_after_fork() noexcept;
  volatile char syscall_switch_ = kSyscallsPass;
  bool syscall_trap_on_ = false;
  std::int64_t last_poll_ns_;  // when the hub last polled libev
  std::int64_t poll_interval_ns_;
  EhState* eh_;   // the hub thread's exception globals and errno, where the greenlets that
  int* errno_;    // share its TLS find theirs
  std::vector<std::unique_ptr<SignalWatch>> signals_;
  Offloads* offloads_ = nullptr;  // never freed: worker threads may outlive the hub
  Kick* kick_ = nullptr;          // never freed: kick_all() may reach it at any time
  struct NetPoll;
  NetPoll* netpoll_ = nullptr;
  struct Remote;
  Remote* remote_ = nullptr;      // never freed: other threads may post to it at any time
  struct Futexes;
  Futexes* futexes_ = nullptr;    // the io_uring of futex_wait(), made at first use
  bool futexes_ready() noexcept;
  void futexes_close() noexcept;
  bool wake_here(GreenletImpl* g, Wake why) noexcept;
  void post(GreenletImpl* g, std::uint32_t seq, Wake why) noexcept;
  void drain_remote() noexcept;
  std::vector<void*> fired_;  // timers the last poll found expired (run_fired)
  void run_fired() noexcept;
  void remote_init();
};

// The switch path is inline, down to the one jump: every frame between a greenlet's code
// and jump_fcontext is a return the CPU mispredicts after the switch.

#define GREEN_HOT inline __attribute__((always_inline))

GREEN_HOT void Hub::after_switch(fiber::Transfer t) noexcept {
  auto* prev = static_cast<GreenletImpl*>(t.data);
  prev->ctx_ = t.fctx;
  if (__builtin_expect(prev->state_ == GreenletImpl::State::dead, 0)) reap(prev);
}

GREEN_HOT void Hub::switch_to(GreenletImpl* to) noexcept {
  GreenletImpl* from = current_;
  const bool shares = !from->own_tls_;
  if (shares) {
    from->errno_ = *errno_;
    from->eh_ = *eh_;
  }
  if (__builtin_expect(cpu_counting_, 0)) count_cpu(from);
  current_ = to;
  to->state_ = GreenletImpl::State::running;
  if (to->tp_ != from->tp_) tls::install(to->tp_);
  fiber::Transfer t = fiber::jump(to->ctx_, from);
  // Resumed: whoever switched back to us installed our thread pointer.
  after_switch(t);
  if (shares) {
    *eh_ = from->eh_;
    *errno_ = from->errno_;
  }
}

GREEN_HOT bool Hub::poll_due() noexcept {
  if (__builtin_expect(--budget_ > 0, 1)) return false;
  return clock_says_poll();
}

GREEN_HOT void Hub::switch_away() noexcept {
  GreenletImpl* next = poll_due() ? nullptr : runq_.pop();
  if (next == nullptr) next = hub_g_.get();
  if (next == current_) {  // it yielded with nobody else ready
    current_->state_ = GreenletImpl::State::running;
    return;
  }
  switch_to(next);
}

GREEN_HOT void Hub::yield() noexcept {
  GreenletImpl* self = current_;
  self->wake_ = Wake::none;
  self->state_ = GreenletImpl::State::ready;
  runq_.push(self);
  switch_away();
}

// On every successful I/O call: inline, since nobody else waits almost always.
GREEN_HOT void Hub::netpoll_pass(PollDesc& pd, int dir) noexcept {
  WaitQueue& q = dir == 1 ? pd.readers : pd.writers;
  if (__builtin_expect(q.empty(), 1)) return;
  (dir == 1 ? pd.rd_ready : pd.wr_ready) = true;
  q.notify_one();
}

#undef GREEN_HOT

}  // namespace green::detail
