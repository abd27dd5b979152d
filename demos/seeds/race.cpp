// Twin of seeds 000/001 "Epitaph to Threads": three threads racing on a global, here greenlets.
// Departures: main joins them (Python waits for its threads); --scale S multiplies every sleep;
// --delays i1,i2,i3,m,d replaces the random.randint draws so that a test knows the outcome.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include <green/green.hpp>

namespace {

double scale = 1.0;
int delays[5];  // seconds: increment x3, multiply, decrement
int val = 1;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

void increment() {
  green::sleep(seconds(delays[0]));
  val += 1;
  green::sleep(seconds(delays[1]));
  val += 1;
  green::sleep(seconds(delays[2]));
  val += 1;
  std::printf("Should be 4, but got %d\n", val);
}

void multiply() {
  green::sleep(seconds(delays[3]));
  val *= 2;
  std::printf("Should be 2, but got %d\n", val);
}

void decrement() {
  val -= 1;
  green::sleep(seconds(delays[4]));
  val -= 1;
  std::printf("Should be -1, but got %d\n", val);
}

}  // namespace

int main(int argc, char** argv) {
  // random.randint(a, b) draws from [a, b], both ends included.
  std::mt19937 rng(std::random_device{}());
  auto randint = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  delays[0] = randint(1, 3);
  delays[1] = randint(1, 3);
  delays[2] = randint(1, 5);
  delays[3] = randint(0, 3);
  delays[4] = randint(0, 4);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--delays") == 0) {
      std::sscanf(argv[i + 1], "%d,%d,%d,%d,%d", &delays[0], &delays[1], &delays[2],
                  &delays[3], &delays[4]);
    }
  }

  std::puts("Start");
  auto t1 = green::spawn(increment);
  auto t2 = green::spawn(multiply);
  auto t3 = green::spawn(decrement);
  std::puts("Behold...");
  green::joinall({t1, t2, t3});
}
