// Twin of seed 002 "Spawning Threads": foo(message, n) spawned twice and a lambda.
// Greenlet.spawn and gevent.spawn are one call here. Departure: --scale S multiplies every
// duration (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <green/green.hpp>

namespace {

double scale = 1.0;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

// Each thread will be passed the message, and n arguments in its initialization.
void foo(std::string message, double n) {
  green::sleep(seconds(n));
  std::puts(message.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  // Initialize a new Greenlet instance running the named function foo
  auto thread1 = green::spawn(foo, "Hello", 1.0);
  // Wrapper for creating and running a new Greenlet from the named function foo, with the
  // passed arguments
  auto thread2 = green::spawn(foo, "I live!", 2.0);
  // Lambda expressions
  auto thread3 = green::spawn([](int x) { return x + 1; }, 2);

  // Block until all threads complete.
  green::joinall({thread1, thread2, thread3});
}
