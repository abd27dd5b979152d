// Hub::netpoll_*: the netpoller (see netpoll.hpp for the protocol).
#include <ev.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hub.hpp"

namespace green::detail {

namespace {

PollDescLookup lookup_fn = nullptr;

std::uint64_t token(int fd, std::uint32_t generation) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(fd)) | (static_cast<std::uint64_t>(generation) << 32);
}

}  // namespace

void netpoll_set_lookup(PollDescLookup lookup) noexcept { lookup_fn = lookup; }

struct Hub::NetPoll {
  int epfd = -1;
  ev_io watcher;
  Hub* hub = nullptr;

  void dispatch() {
    epoll_event evs[256];
    for (;;) {
      const int n = epoll_wait(epfd, evs, 256, 0);
      for (int i = 0; i < n; ++i) {
        const int fd = static_cast<int>(evs[i].data.u64 & 0xffffffffu);
        const auto generation = static_cast<std::uint32_t>(evs[i].data.u64 >> 32);
        PollDesc* pd = lookup_fn != nullptr ? lookup_fn(fd) : nullptr;
        if (pd == nullptr || pd->hub != hub || pd->generation != generation) continue;
        const std::uint32_t e = evs[i].events;
        // An error is reported once (SO_ERROR is cleared by the call that returns it), so
        // only the hang-ups are sticky.
        if (e & (EPOLLRDHUP | EPOLLHUP)) pd->rd_closed = true;
        if (e & EPOLLHUP) pd->wr_closed = true;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
          pd->rd_ready = true;
          if (pd->reader != nullptr) hub->wake(pd->reader, Wake::notified);
        }
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
          pd->wr_ready = true;
          if (pd->writer != nullptr) hub->wake(pd->writer, Wake::notified);
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
  ev.data.u64 = token(fd, pd.generation);
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
  if (pd.reader != nullptr) wake(pd.reader, Wake::closed);
  if (pd.writer != nullptr) wake(pd.writer, Wake::closed);
  pd.reader = pd.writer = nullptr;
}

Wake Hub::netpoll_wait(PollDesc& pd, int dir, Deadline deadline, ParkPolicy policy) noexcept {
  bool& ready = dir == 1 ? pd.rd_ready : pd.wr_ready;
  GreenletImpl*& slot = dir == 1 ? pd.reader : pd.writer;
  if (dir == 1 ? pd.rd_closed : pd.wr_closed) return Wake::notified;
  if (ready) {
    ready = false;
    return Wake::notified;
  }
  GreenletImpl* self = current_;
  if (slot != nullptr && slot != self) {
    // Two greenlets on one direction of one fd: the second waits the libev way.
    return Wake::none;
  }
  slot = self;
  ev_ref(loop_);
  const Wake w = park(deadline, policy);
  ev_unref(loop_);
  if (slot == self) slot = nullptr;
  if (w == Wake::notified) ready = false;
  return w;
}

void Hub::after_fork() noexcept {
  NoHooks guard;
  ev_loop_fork(loop_);
  if (netpoll_ != nullptr) {
    ev_io_stop(loop_, &netpoll_->watcher);
    ev_ref(loop_);  // undo the unref of netpoll_register
    ::close(netpoll_->epfd);
    delete netpoll_;
    netpoll_ = nullptr;
  }
}

}  // namespace green::detail
