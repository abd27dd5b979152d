// The netpoller: readiness of the shim's own sockets, Go-style, owned by the runtime.
//
// Each such fd is registered once, edge-triggered, in an epoll set the hub owns (watched
// by libev as one more fd), and stays registered until close. The event's data is the
// PollDesc's address tagged with its generation (Go's fdseq), so the hub finds the
// descriptor with no table lookup, and an event still queued for a closed fd (an older
// generation) is dropped. A read or write that gets EAGAIN parks on the descriptor's queue
// for its direction until an edge arrives; an edge that arrives while nobody waits leaves a
// token (rd_ready/wr_ready) that the next waiter consumes, retrying at once. A waiter whose
// call then succeeds passes the turn to the next one (netpoll_pass): one edge may stand for
// more than one call's worth (two pending connections).
//
//   waiter:  op() → EAGAIN → token? consume, retry : park on readers/writers
//   hub:     edge for the current generation → set token (and hang-up), wake one waiter
//   close:   unregister → generation + 1 (stale edges dropped) → every waiter woken "closed"
//
// PollDescs are never freed while registered, nor after (the shim's fd table keeps them for
// the life of the process): a stale event may still point to one.
#pragma once

#include <cstdint>

#include "green/detail/core.hpp"

namespace green::detail {

class Hub;

struct PollDesc {
  Hub* hub = nullptr;            // the hub whose epoll set holds the fd (nullptr: none)
  std::uint32_t generation = 0;  // bumped at unregister
  bool rd_ready = false;         // an edge arrived that no reader has consumed
  bool wr_ready = false;
  // Kept past the edge that brought them: once the peer has shut down (RDHUP; HUP for both
  // directions) a read (write) no longer blocks, and no further edge may ever come. A wait
  // that finds one set clears it and returns at once (netpoll_wait).
  bool rd_closed = false;
  bool wr_closed = false;
  WaitQueue readers;             // greenlets parked until the fd is readable
  WaitQueue writers;
};

}  // namespace green::detail
