// Twin of seed 002 "Events", the AsyncResult example: the setter sends 'Hello!' along with
// the wakeup. Departure: --scale S multiplies the 3 s (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <green/green.hpp>

namespace {

double scale = 1.0;
green::AsyncResult<std::string> a;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

// After 3 seconds set the result of a.
void setter() {
  green::sleep(seconds(3));
  a.set("Hello!");
}

// After 3 seconds the get call will unblock after the setter puts a value into the
// AsyncResult.
void waiter() { std::puts(a.get().c_str()); }

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  green::joinall({
      green::spawn(setter),
      green::spawn(waiter),
  });
}
