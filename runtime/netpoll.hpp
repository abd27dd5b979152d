// The netpoller: readiness of the shim's own sockets, Go-style.
//
// Each such fd is registered once, edge-triggered, in an epoll set the hub owns (watched
// by libev as one more fd), and stays registered until close. A read or write that gets
// EAGAIN parks on the fd's PollDesc until an edge arrives; an edge that arrives while
// nobody waits leaves a token (rd_ready/wr_ready) that the next waiter consumes and
// retries at once. Compared with starting and stopping a libev watcher around each wait,
// this saves two epoll_ctl calls per blocking call.
//
//   waiter:  op() → EAGAIN → token? consume, retry : park as reader/writer
//   hub:     edge on fd with the current generation → set token, wake the parked one
//   close:   unregister → generation + 1 (stale edges ignored) → waiters woken "closed"
#pragma once

#include <cstdint>

#include "green/detail/core.hpp"

namespace green::detail {

class GreenletImpl;
class Hub;

struct PollDesc {
  Hub* hub = nullptr;            // the hub whose epoll set holds the fd (nullptr: none)
  std::uint32_t generation = 0;  // bumped at unregister
  bool rd_ready = false;         // an edge arrived that no reader has consumed
  bool wr_ready = false;
  // Sticky until unregister: once the peer has shut down (RDHUP; HUP for both directions),
  // a read (write) no longer blocks, and no further edge may ever come.
  bool rd_closed = false;
  bool wr_closed = false;
  GreenletImpl* reader = nullptr;
  GreenletImpl* writer = nullptr;
};

// How the hub finds the PollDesc of an fd reported by epoll (set by the shim's fd table).
using PollDescLookup = PollDesc* (*)(int fd) noexcept;
void netpoll_set_lookup(PollDescLookup lookup) noexcept;

}  // namespace green::detail
