// Twin of seed 002 "Queues", second example: a boss running alongside three workers, a
// Queue(maxsize=3) making put() block, and get(timeout=1) ending each worker with Empty.
// Departure: --scale S multiplies the 1 s timeout (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <green/green.hpp>

using namespace std::chrono_literals;

namespace {

double scale = 1.0;
green::Queue<int> tasks(3);

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

void worker(const std::string& n) {
  try {
    for (;;) {
      const int task = tasks.get(seconds(1));  // decrements queue size by 1
      std::printf("Worker %s got task %d\n", n.c_str(), task);
      green::sleep(0s);
    }
  } catch (const green::QueueEmpty&) {
    std::puts("Quitting time!");
  }
}

// Boss will wait to hand out work until a individual worker is free since the maxsize of
// the task queue is 3.
void boss() {
  for (int i = 1; i < 10; ++i) tasks.put(i);
  std::puts("Assigned all work in iteration 1");

  for (int i = 10; i < 20; ++i) tasks.put(i);
  std::puts("Assigned all work in iteration 2");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  green::joinall({
      green::spawn(boss),
      green::spawn(worker, "steve"),
      green::spawn(worker, "john"),
      green::spawn(worker, "bob"),
  });
}
