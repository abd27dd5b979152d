#include "green/io.hpp"

#include <fcntl.h>

#include <cerrno>
#include <system_error>

#include "hub.hpp"

namespace green {

namespace {

bool wait_fd(int fd, int events, Duration timeout) {
  // libev would stop watching a bad fd with EV_ERROR at its next poll; say so now.
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) {
    throw std::system_error(EBADF, std::generic_category(), "green: wait on a bad fd");
  }
  const detail::Wake w =
      detail::Hub::current().wait_fd(fd, events, detail::deadline_after(timeout));
  detail::raise_for(w);
  if (w == detail::Wake::closed) throw std::system_error(EBADF, std::generic_category(), "green: fd closed while waiting");
  return w == detail::Wake::notified;
}

}  // namespace

bool wait_read(int fd, Duration timeout) { return wait_fd(fd, 1, timeout); }
bool wait_write(int fd, Duration timeout) { return wait_fd(fd, 2, timeout); }

}  // namespace green
