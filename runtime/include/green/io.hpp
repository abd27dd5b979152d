// Waiting for file descriptors (gevent.socket.wait_read / wait_write).
#pragma once

#include "detail/core.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

// Parks until `fd` is readable (or at EOF/error); false if `timeout` passes first.
bool wait_read(int fd, Duration timeout = forever);
// Parks until `fd` is writable (or in error); false if `timeout` passes first.
bool wait_write(int fd, Duration timeout = forever);

}  // namespace green

#pragma GCC visibility pop
