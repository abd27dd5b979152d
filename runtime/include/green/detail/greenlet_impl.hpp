// The state every greenlet carries, whatever it returns. Greenlet<R> handles share it;
// the hub keeps it alive (self_) from spawn until the greenlet's stack is reclaimed.
//
// A greenlet thread (pthread_create under the shim) owns its TLS: the switch installs its
// thread pointer. Other greenlets share their hub's TLS, and a switch saves what must be
// theirs alone here: errno and the C++ exception state (libstdc++'s __cxa_eh_globals:
// caught-exception stack and uncaught count), so that a greenlet may park inside a catch
// block while others throw.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>

#include "core.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green::detail {

class Hub;
struct LocalSlots;

struct EhState {
  void* caught = nullptr;
  unsigned int uncaught = 0;
};

struct StackArea {
  void* base = nullptr;     // lowest mapped address (the guard page)
  std::size_t size = 0;     // mapping size, guard included
  bool ours = true;         // false: the program's memory (pthread_attr_setstack), no guard
};

class GreenletImpl {
 public:
  // vanished: another thread of the parent in a fork() child, which never runs again.
  enum class State : std::uint8_t { created, ready, running, parked, dead, vanished };

  GreenletImpl() noexcept;
  virtual ~GreenletImpl();
  GreenletImpl(const GreenletImpl&) = delete;
  GreenletImpl& operator=(const GreenletImpl&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  bool started() const noexcept { return started_; }
  bool dead() const noexcept { return state_ == State::dead; }
  bool killed() const noexcept { return killed_; }
  const std::exception_ptr& exception() const noexcept { return exception_; }
  WaitQueue& joiners() noexcept { return joiners_; }

  // The body: runs the user's callable and stores its result.
  virtual void run() = 0;
  // Drops the callable and its bound arguments once the body has returned.
  virtual void release_callable() noexcept {}
  // Leaves the blocking point by what is pending (a kill, a Timeout, a cancellation): by
  // throwing it, unless the greenlet knows a way of its own (a greenlet thread's cancel).
  [[noreturn]] virtual void raise_pending();

 private:
  friend class Hub;
  friend struct RunQueue;
  friend void spawn_impl(std::shared_ptr<GreenletImpl>, std::size_t);

  void* ctx_ = nullptr;                // suspended fiber context
  StackArea stack_;
  Hub* hub_ = nullptr;
  GreenletImpl* next_ready_ = nullptr; // run-queue link
  std::uint64_t id_;
  State state_ = State::created;
  Wake wake_ = Wake::none;
  std::uint32_t park_seq_ = 0;         // counts parks: a remote wake names the one it ends
  bool started_ = false;
  bool killed_ = false;
  bool interruptible_ = true;          // false while parked where POSIX allows no interruption
  Eintr eintr_ = Eintr::never;         // while parked: whether a signal handler's run ends it
  bool exiting_ = false;               // its body has returned: no kill or Timeout lands now
  void* tp_ = nullptr;                 // its thread pointer (%fs base): its own or its hub's
  bool own_tls_ = false;
  int errno_ = 0;                      // errno_ and eh_: kept here only when TLS is shared
  EhState eh_;
  // A signal may be pending for it (the shim's per-thread signals): its next park, or the
  // end of the one it is in, lets the shim deliver it. Set from any thread.
  std::atomic<bool> signal_note_{false};
  std::uint8_t hold_interrupts_ = 0;   // >0: a kill, Timeout or cancel waits (hold_interrupts)
  std::int64_t cpu_ns_ = 0;            // CPU time it used, while its hub counts (Hub::cpu_time)
  std::exception_ptr pending_;         // to throw at the next blocking point
  const void* pending_source_ = nullptr;
  std::exception_ptr exception_;       // escaped from the body
  WaitQueue joiners_;
  std::shared_ptr<GreenletImpl> self_;
  LocalSlots* locals_ = nullptr;

 public:
  // Accessors the runtime's own .cpp files need.
  bool has_pending() const noexcept { return static_cast<bool>(pending_); }
  const std::exception_ptr& pending() const noexcept { return pending_; }
  const void* pending_source() const noexcept { return pending_source_; }
  void clear_pending() noexcept { pending_ = nullptr; pending_source_ = nullptr; }
  std::exception_ptr take_pending() noexcept {
    std::exception_ptr e = std::move(pending_);
    clear_pending();
    return e;
  }
  LocalSlots*& locals() noexcept { return locals_; }
  // While held, nothing pending is thrown at its blocking points: the shim holds them while
  // a signal handler runs at the end of a park, whose frames no exception may cross.
  void hold_interrupts(bool on) noexcept { hold_interrupts_ = static_cast<std::uint8_t>(hold_interrupts_ + (on ? 1 : -1)); }
  void note_signal() noexcept { signal_note_.store(true, std::memory_order_release); }
  // Clears the note; whether it was set. A plain load first: the hub asks on every park.
  bool take_signal_note() noexcept {
    return signal_note_.load(std::memory_order_relaxed) && signal_note_.exchange(false, std::memory_order_acq_rel);
  }
  // Which park it is in or last was in: a wait-queue entry names the park it belongs to.
  std::uint32_t park_seq() const noexcept { return park_seq_; }
  const StackArea& stack() const noexcept { return stack_; }
  // Whether it has a TLS of its own (a greenlet thread), not its hub's.
  bool owns_tls() const noexcept { return own_tls_; }
  bool parked() const noexcept { return state_ == State::parked; }
  bool vanished() const noexcept { return state_ == State::vanished; }
  // The hub it runs on (nullptr before spawn).
  Hub* hub() const noexcept { return hub_; }
  // How a signal handler interrupts the wait it is parked in (its park's ParkPolicy).
  Eintr eintr() const noexcept { return state_ == State::parked ? eintr_ : Eintr::never; }
  // What made this greenlet: the C++ API, or the shim's pthread_create (which tags it
  // so that a pthread_t can be checked without RTTI).
  enum class Origin : std::uint8_t { api, pthread };
  Origin origin = Origin::api;
  // The owning reference of a spawned greenlet (empty for a main greenlet).
  std::shared_ptr<GreenletImpl> shared() const noexcept { return self_; }
  friend GreenletImpl* current_greenlet() noexcept;
};

// The running greenlet of this OS thread (the main greenlet if none was spawned).
GreenletImpl* current_greenlet() noexcept;
// Schedules a new greenlet on this thread's hub; stack_size 0 = the configured default.
void spawn_impl(std::shared_ptr<GreenletImpl> g, std::size_t stack_size);
// Throws `exc` into `g` at its blocking point (now if it is parked, else at its next one).
// `source` identifies who asked (a Timeout, or nullptr for kill).
// From another OS thread than g's hub's, `keep` (a reference to g) is required: the
// interruption is then handed to g's hub and applied there.
void interrupt(GreenletImpl* g, std::exception_ptr exc, const void* source,
               std::shared_ptr<GreenletImpl> keep = {});
// Marks a not-yet-started greenlet killed without running it, or interrupts a live one.
void kill_impl(const std::shared_ptr<GreenletImpl>& g);

}  // namespace green::detail

#pragma GCC visibility pop
