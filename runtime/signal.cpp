#include "green/signal.hpp"

#include <cerrno>
#include <csignal>
#include <system_error>

#include "hub.hpp"

namespace green {

SignalHandler signal(int signum, std::function<void()> handler) {
  if (signum <= 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP) {
    throw std::system_error(EINVAL, std::generic_category(), "green::signal: bad signal number");
  }
  if (!handler) throw std::invalid_argument("green::signal: empty handler");
  return SignalHandler(detail::Hub::current().signal_add(signum, std::move(handler)));
}

void SignalHandler::cancel() noexcept {
  if (id_ == 0) return;
  if (auto* hub = detail::Hub::current_if_exists()) hub->signal_cancel(id_);
  id_ = 0;
}

}  // namespace green
