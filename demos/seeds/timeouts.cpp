// Twin of seed 002 "Timeouts", the cog example: a Timeout around join(), one around get(),
// and with_timeout(). `Timeout(1).start()` is a green::Timeout scope opened at the same
// point. Departure: --scale S multiplies every duration (default 1).
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

void wait() { green::sleep(seconds(2)); }

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  {
    green::Timeout timer(seconds(1));
    auto thread1 = green::spawn(wait);
    try {
      thread1.join();
    } catch (const green::TimeoutError&) {
      std::puts("Thread 1 timed out");
    }
  }

  // --

  {
    green::Timeout timer(seconds(1));
    auto thread2 = green::spawn(wait);
    try {
      thread2.get();
    } catch (const green::TimeoutError&) {
      std::puts("Thread 2 timed out");
    }
  }

  // --

  try {
    green::with_timeout(seconds(1), wait);
  } catch (const green::TimeoutError&) {
    std::puts("Thread 3 timed out");
  }
}
