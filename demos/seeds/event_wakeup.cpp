// Twin of seed 002 "Events": a setter wakes a waiter through an AsyncResult set with no
// value. Departure: --scale S multiplies the 3 s (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <green/green.hpp>

namespace {

double scale = 1.0;
green::AsyncResult<> a;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

// After 3 seconds set wake all threads waiting on the value of a.
void setter() {
  green::sleep(seconds(3));
  a.set();
}

// After 3 seconds the get call will unblock.
void waiter() {
  a.get();  // blocking
  std::puts("I live!");
}

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
