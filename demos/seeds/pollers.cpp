// Twin of seed 002 "Synchronous & Asynchronous Execution": gr1 and gr2 poll for 2 s while
// gr3 runs. select([], [], [], 2) with no fds is a timed wait: we wait for a pipe nobody
// writes to. Departure: --scale S multiplies every duration; the times printed are real.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <green/green.hpp>

namespace {

double scale = 1.0;
int never_readable = -1;  // read end of a pipe nobody writes to
const auto start = std::chrono::steady_clock::now();

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

// tic = lambda: 'at %1.1f seconds' % (time.time() - start)
std::string tic() {
  const std::chrono::duration<double> t = std::chrono::steady_clock::now() - start;
  char buf[64];
  std::snprintf(buf, sizeof buf, "at %1.1f seconds", t.count());
  return buf;
}

// select.select([], [], [], t): with no fds, gevent's select is only a timed wait. We wait for
// a pipe that is never written, with the timeout, so the greenlet parks in the hub's poller
// as gevent's does (green::sleep would do as well).
void select_timeout(double t) { green::wait_read(never_readable, seconds(t)); }

// print(a, b) joins its arguments with one space.
void gr1() {
  // Busy waits for a second, but we don't want to stick around...
  std::printf("%s %s\n", "Started Polling: ", tic().c_str());
  select_timeout(2);
  std::printf("%s %s\n", "Ended Polling: ", tic().c_str());
}

void gr2() {
  // Busy waits for a second, but we don't want to stick around...
  std::printf("%s %s\n", "Started Polling: ", tic().c_str());
  select_timeout(2);
  std::printf("%s %s\n", "Ended Polling: ", tic().c_str());
}

void gr3() {
  std::printf("%s %s\n", "Hey lets do some stuff while the greenlets poll, at", tic().c_str());
  green::sleep(seconds(1));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    return 1;
  }
  never_readable = fds[0];

  green::joinall({
      green::spawn(gr1),
      green::spawn(gr2),
      green::spawn(gr3),
  });
  close(fds[0]);
  close(fds[1]);
}
