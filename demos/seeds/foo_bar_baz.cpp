// Twin of seeds 000/001 "Enter Gevent": foo, bar and baz switching on sleep(0), sleep(5)
// and sleep(1). Departure: --scale S multiplies every duration (default 1).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <green/green.hpp>

namespace {

double scale = 1.0;

green::Duration seconds(double s) {
  return std::chrono::duration_cast<green::Duration>(std::chrono::duration<double>(s * scale));
}

void foo() {
  std::puts("foo is running");
  green::sleep(seconds(0));
  std::puts("baz is blocking, switch back to foo...DONE!");
  std::puts("visiting bar...");
}

void bar() {
  green::sleep(seconds(5));
  std::puts("Finally, bar is DONE!");
}

void baz() {
  std::puts("context switch from foo to bar, still blocking...jump to baz");
  green::sleep(seconds(1));
  std::puts("visited bar, still blocking, back to baz...DONE!");
  std::puts("visiting bar again...");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--scale") == 0) scale = std::atof(argv[i + 1]);
  }

  std::vector<green::Greenlet<>> gs;
  for (auto f : {foo, bar, baz}) gs.push_back(green::spawn(f));
  green::joinall(gs);
}
