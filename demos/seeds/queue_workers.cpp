// Twin of seed 002 "Queues", first example: the boss fills an unbounded queue with tasks
// 1..24 using put_nowait, then three workers take turns (sleep(0)) until it is empty.
#include <chrono>
#include <cstdio>
#include <string>

#include <green/green.hpp>

using namespace std::chrono_literals;

namespace {

green::Queue<int> tasks;

void worker(const std::string& n) {
  while (!tasks.empty()) {
    const int task = tasks.get();
    std::printf("Worker %s got task %d\n", n.c_str(), task);
    green::sleep(0s);
  }
  std::puts("Quitting time!");
}

void boss() {
  for (int i = 1; i < 25; ++i) tasks.put_nowait(i);
}

}  // namespace

int main() {
  green::spawn(boss).join();

  green::joinall({
      green::spawn(worker, "steve"),
      green::spawn(worker, "john"),
      green::spawn(worker, "nancy"),
  });
}
