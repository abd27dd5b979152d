// Twin of seed 002 "Timeouts", first snippet: a Timeout(10) started before joining a
// greenlet that sleeps 10 s; the Timeout was armed first, so it wins. Departure: --scale S
// multiplies both durations (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <green/green.hpp>

namespace {

double scale = 1.0;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

void wait() { green::sleep(seconds(10)); }

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  green::Timeout timeout(seconds(10));
  try {
    green::spawn(wait).join();
  } catch (const green::TimeoutError&) {
    std::puts("Could not complete");
  }
}
