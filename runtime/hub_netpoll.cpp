// Hub::netpoll_*: the netpoller (see netpoll.hpp for the protocol).
#include <ev.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hub.hpp"

namespace green::detail {

namespace {

// User-space addresses fit in 47 bits on x86-64 (48 with 5-level paging off): the top 16
// bits of the event's data carry the generation's low bits.
constexpr int kTagShift = 48;
constexpr std::uint64_t kAddressMask = (std::uint64_t{1} << kTagShift) - 1;

std::uint64_t tagged(PollDesc& pd) {
  return reinterpret_cast<std::uintptr_t>(&pd) | (static_cast<std::uint64_t>(pd.generation & 0xffff) << kTagShift);
}

}  // namespace

struct Hub::NetPoll {
  int epfd = -1;
  ev_io watcher;
  Hub* hub = nullptr;

  void dispatch() {
    epoll_event evs[256];
    for (;;) {
      const int n = epoll_wait(epfd, evs, 256, 0);
      for (int i = 0; i < n; ++i) {
        auto* pd = reinterpret_cast<PollDesc*>(evs[i].data.u64 & kAddressMask);
        const auto tag = static_cast<std::uint32_t>(evs[i].data.u64 >> kTagShift);
        if (pd->hub != hub || (pd->generation & 0xffff) != tag) continue;
        const std::uint32_t e = evs[i].events;
        // An error is reported once (SO_ERROR is cleared by the call that returns it), so
        // only the hang-ups are sticky.
        if (e & (EPOLLRDHUP | EPOLLHUP)) pd->rd_closed = true;
        if (e & EPOLLHUP) pd->wr_closed = true;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
          pd->rd_ready = true;
          pd->readers.notify_one();
        }
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
          pd->wr_ready = true;
          pd->writers.notify_one();
        }
      }
      if (n < 256) return;
    }
  }
};

bool Hub::netpoll_register(int fd, PollDesc& pd) noexcept {
  if (netpoll_ == nullptr) {
    auto* np = new (std::nothrow) NetPoll;
    if (np == nullptr) return false;
    np->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (np->epfd < 0) {
      delete np;
      return false;
    }
    np->hub = this;
    ev_io_init(&np->watcher, [](struct ev_loop*, ev_io* w, int) {
      static_cast<NetPoll*>(w->data)->dispatch();
    }, np->epfd, EV_READ);
    np->watcher.data = np;
    NoHooks guard;
    ev_io_start(loop_, &np->watcher);
    // Registered sockets alone must not keep the loop alive: a greenlet parked on one
    // holds a reference of its own while it waits (netpoll_wait).
    ev_unref(loop_);
    netpoll_ = np;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tagged(pd);
  if (epoll_ctl(netpoll_->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
  pd.hub = this;
  // Until the first edge says otherwise, assume ready: the first call just tries.
  pd.rd_ready = pd.wr_ready = false;
  pd.rd_closed = pd.wr_closed = false;
  return true;
}

void Hub::netpoll_unregister(int fd, PollDesc& pd) noexcept {
  if (pd.hub != this || netpoll_ == nullptr) return;
  epoll_ctl(netpoll_->epfd, EPOLL_CTL_DEL, fd, nullptr);
  ++pd.generation;
  pd.hub = nullptr;
  pd.rd_ready = pd.wr_ready = false;
  pd.rd_closed = pd.wr_closed = false;
  pd.readers.notify_all(Wake::closed);
  pd.writers.notify_all(Wake::closed);
}

Wake Hub::netpoll_wait(PollDesc& pd, int dir, Deadline deadline, ParkPolicy policy) noexcept {
  bool& ready = dir == 1 ? pd.rd_ready : pd.wr_ready;
  // A hang-up seen earlier: the call that waits now may return at once. If it still says
  // EAGAIN, the hang-up has gone (an unconnected socket reports HUP until listen() or
  // connect()): forget it, so that the next wait parks.
  bool& closed = dir == 1 ? pd.rd_closed : pd.wr_closed;
  if (closed) {
    closed = false;
    return Wake::notified;
  }
  if (ready) {
    ready = false;
    return Wake::notified;
  }
  Waiter w;
  w.g = current_;
  w.seq = current_->park_seq_ + 1;  // the park below
  WaitQueue& q = dir == 1 ? pd.readers : pd.writers;
  q.push(&w);
  ev_ref(loop_);  // a parked waiter keeps the loop alive (registration alone does not)
  const Wake r = park(deadline, policy);
  ev_unref(loop_);
  q.remove(&w);
  if (r == Wake::notified) ready = false;
  return r;
}

void Hub::after_fork() noexcept {
  NoHooks guard;
  os_tid_ = static_cast<int>(gettid());
  tls::after_fork(tp_);
  preempt_after_fork();
  // The child's CPU times start at zero (fork(2)): counted afresh from the next ask.
  cpu_counting_ = false;
  if (current_ != nullptr) current_->cpu_ns_ = 0;
  ev_loop_fork(loop_);
  futexes_close();  // the parent's ring, with the vanished threads' waits; a new one at next use
  if (netpoll_ != nullptr) {
    ev_io_stop(loop_, &netpoll_->watcher);
    ev_ref(loop_);  // undo the unref of netpoll_register
    ::close(netpoll_->epfd);
    delete netpoll_;
    netpoll_ = nullptr;
  }
}

}  // namespace green::detail
