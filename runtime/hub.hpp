// The hub: one per OS thread, created on first use, never a process-wide singleton.
//
// It owns the thread's libev loop, which runs in a fiber of its own (the hub greenlet);
// the thread's original stack is the main greenlet. A greenlet that blocks parks: it
// gives up the CPU, directly to the next ready greenlet when there is one (two switches
// per yield round trip, not four), else to the hub, which polls. Every `switch_budget`
// direct switches the hub gets the CPU anyway, so I/O and timers are never starved by
// greenlets that only yield to each other. Ready greenlets run in FIFO order.
#pragma once

#include <csignal>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "fiber.hpp"
#include "green/detail/core.hpp"
#include "green/detail/greenlet_impl.hpp"
#include "stack.hpp"

struct ev_loop;

namespace green::detail {

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

class Hub {
 public:
  // This thread's hub, created on first use.
  static Hub& current();
  // This thread's hub if one exists; never creates.
  static Hub* current_if_exists() noexcept;

  Hub();
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  GreenletImpl* running() const noexcept { return current_; }
  GreenletImpl* main_greenlet() const noexcept { return main_.get(); }
  std::shared_ptr<GreenletImpl> main_handle() const noexcept { return main_; }
  bool in_hub_fiber() const noexcept { return current_ == hub_g_.get(); }

  void spawn(std::shared_ptr<GreenletImpl> g, std::size_t stack_size);
  // Gives up the CPU until wake() or the deadline. Returns why it runs again.
  Wake park(Deadline deadline) noexcept;
  // Makes a parked greenlet ready; false (and nothing done) unless it is parked.
  bool wake(GreenletImpl* g, Wake why) noexcept;
  // Lets every ready greenlet run once.
  void yield() noexcept;
  void interrupt(GreenletImpl* g, std::exception_ptr exc, const void* source) noexcept;
  // Parks until `fd` is ready for `events` (EV_READ/EV_WRITE bits as POLLIN/POLLOUT-like
  // flags: 1 = read, 2 = write) or the deadline.
  Wake wait_fd(int fd, int events, Deadline deadline) noexcept;

  void timer_start(TimerSlot& slot, Deadline at, TimerCallback cb, void* arg);
  void timer_stop(TimerSlot& slot) noexcept;

  // Runs `handler` in a new greenlet each time `signum` arrives. Returns an id for
  // signal_cancel().
  int signal_add(int signum, std::function<void()> handler);
  void signal_cancel(int id) noexcept;

  StackPool& stacks() noexcept { return stacks_; }

 private:
  class HubGreenlet;
  class MainGreenlet;
  struct SignalWatch;

  static void entry(fiber::Transfer t) noexcept;
  void switch_to(GreenletImpl* to) noexcept;
  void after_switch(fiber::Transfer t) noexcept;
  void switch_away() noexcept;
  [[noreturn]] void finish_current() noexcept;
  void reap(GreenletImpl* g) noexcept;
  void loop();

  struct ev_loop* loop_;
  RunQueue runq_;
  GreenletImpl* current_;
  std::shared_ptr<GreenletImpl> main_;
  std::shared_ptr<GreenletImpl> hub_g_;
  StackPool stacks_;
  int budget_;
  int budget_reset_;
  EhState* eh_;
  std::vector<std::unique_ptr<SignalWatch>> signals_;
};

}  // namespace green::detail
