// Twin of seeds 000/001 "Epitaph to Threads", first snippet: a blocking sleep between two
// prints. time.sleep() is not gevent's, so it blocks the thread: std::this_thread::sleep_for.
// Departure: --scale S multiplies the 5 s (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

int main(int argc, char** argv) {
  double scale = 1.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  std::puts("Start process");
  std::this_thread::sleep_for(std::chrono::duration<double>(5 * scale));
  std::puts("Life goes on");
}
