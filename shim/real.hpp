// The real libc functions behind every hook, in one table resolved once at load.
#pragma once

#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace green::shim {

struct RealTable {
#define GREEN_REAL(ret, name, params) ret(*name) params;
#include "real.def"
#undef GREEN_REAL
};

// Filled by resolve_real() before any hook runs (the library constructor, or the first
// hook if another library's constructor calls us first).
extern RealTable real_table;
void resolve_real() noexcept;

}  // namespace green::shim

// REAL(read)(fd, buf, n): the function libc (or the next library) provides.
#define REAL(name) (::green::shim::real_table.name)
