// Twin of seeds 000/001 "Epitaph to Threads": threading.Thread(target=wait, args=(5,)),
// here a greenlet. Departures: Python waits for non-daemon threads at exit, C++ must join
// explicitly; --scale S multiplies the 5 s (default 1).
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

void wait(double t) {
  green::sleep(seconds(t));
  std::puts("Done waiting");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  std::puts("Start process");
  auto thread = green::spawn(wait, 5.0);
  std::puts("Life goes on");
  thread.join();
}
