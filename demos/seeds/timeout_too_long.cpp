// Twin of seed 002 "Timeouts": `with Timeout(5, TooLong): gevent.sleep(10)`. green::Timeout
// raises only TimeoutError, turned here into TooLong, which ends the program with status 1 and
// a note on stderr as Python's uncaught exception does. Departure: --scale S (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include <green/green.hpp>

namespace {

double scale = 1.0;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

struct TooLong : std::exception {
  const char* what() const noexcept override { return "TooLong"; }
};

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  const double time_to_wait = 5;  // seconds
  try {
    green::Timeout timeout(seconds(time_to_wait));
    try {
      green::sleep(seconds(10));
    } catch (const green::TimeoutError& e) {
      if (timeout.is(e)) throw TooLong();
      throw;
    }
  } catch (const TooLong& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
