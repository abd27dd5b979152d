// Twin of seed 002 "Spawning Threads": a Greenlet subclass overriding _run. C++ greenlets
// are not subclassed: the struct's start() spawns its run(). Departure: --scale S
// multiplies the 3 s (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include <green/green.hpp>

namespace {

double scale = 1.0;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

struct MyGreenlet {
  MyGreenlet(std::string message, double n) : message(std::move(message)), n(n) {}

  void start() { greenlet = green::spawn([this] { run(); }); }
  void join() { greenlet.join(); }

  void run() {
    std::puts(message.c_str());
    green::sleep(seconds(n));
  }

  std::string message;
  double n;
  green::Greenlet<> greenlet;
};

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  MyGreenlet g("Hi there!", 3);
  g.start();
  g.join();
}
