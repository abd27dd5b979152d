// Twin of seed 002 "Synchronous & Asynchronous Execution": task(pid) sleeps 0-2 ms at
// random, run one after another (Task 1..9, in order), then as ten greenlets (Task 0..9,
// in whatever order the sleeps finish).
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include <green/green.hpp>

namespace {

std::mt19937 rng(std::random_device{}());

// Some non-deterministic task
void task(int pid) {
  green::sleep(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 2)(rng)));
  std::printf("Task %d done\n", pid);
}

void synchronous() {
  for (int i = 1; i < 10; ++i) task(i);
}

void asynchronous() {
  std::vector<green::Greenlet<>> threads;
  for (int i = 0; i < 10; ++i) threads.push_back(green::spawn(task, i));
  green::joinall(threads);
}

}  // namespace

int main() {
  std::puts("Synchronous:");
  synchronous();

  std::puts("Asynchronous:");
  asynchronous();
}
