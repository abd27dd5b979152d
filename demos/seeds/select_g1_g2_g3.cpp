// Twin of seed 001 "Enter Gevent": g1, g2, g3 blocking in select([], [], [], t) and sleep(1).
// Departures: --scale S multiplies every duration (default 1); select() with no fds is
// replaced by a timed wait on a pipe (see select_timeout).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <green/green.hpp>

namespace {

double scale = 1.0;
int never_readable = -1;  // read end of a pipe nobody writes to

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

// select.select([], [], [], t): with no fds, gevent's select is only a timed wait. We wait for
// a pipe that is never written, with the timeout, so the greenlet parks in the hub's poller
// as gevent's does (green::sleep would do as well).
void select_timeout(double t) { green::wait_read(never_readable, seconds(t)); }

void g1() {
  std::puts("g1 starts...");
  select_timeout(5);
  std::puts("g1 is DONE!");
}

void g2() {
  std::puts("enters g2 while waiting for g1 polling");
  select_timeout(1);
  std::puts("g1 was probably not done, so jump to g2 again");
  std::puts("g2 is DONE! Only g1 left.");
}

void g3() {
  std::puts("hits another polling, switch from g2 to g3");
  green::sleep(seconds(1));
  std::puts("g3 is DONE! Visiting g1...");
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
      green::spawn(g1),
      green::spawn(g2),
      green::spawn(g3),
  });
  close(fds[0]);
  close(fds[1]);
}
