// Signal handlers that run as greenlets (gevent.signal_handler): the handler is an ordinary
// greenlet, so unlike a POSIX handler it may block, lock and allocate.
#pragma once

#include <functional>

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

class SignalHandler {
 public:
  SignalHandler() = default;
  explicit SignalHandler(int id) : id_(id) {}
  // Stops handling; the signal's previous disposition is not restored.
  void cancel() noexcept;
  bool active() const noexcept { return id_ != 0; }

 private:
  int id_ = 0;
};

// From now on, each delivery of `signum` to this thread's hub spawns `handler`.
// Handling stays active until cancel(); dropping the returned handle does not cancel it.
SignalHandler signal(int signum, std::function<void()> handler);

}  // namespace green

#pragma GCC visibility pop
