// Twin of seed 002 "Program Shutdown": on SIGQUIT, stop the greenlet that would run
// forever, so the program exits. gevent.shutdown is gone from gevent; the handler kills the
// run_forever greenlet instead. Departure: prints "ready" once the handler is installed.
#include <csignal>
#include <chrono>
#include <cstdio>

#include <green/green.hpp>

using namespace std::chrono_literals;

namespace {

void run_forever() { green::sleep(1000s); }

}  // namespace

int main() {
  green::Greenlet<> thread;
  green::signal(SIGQUIT, [&thread] { thread.kill(false); });
  thread = green::spawn(run_forever);
  std::puts("ready");
  std::fflush(stdout);
  thread.join();
}
