// Twin of seed 002 "Synchronous & Asynchronous Execution": foo and bar handing the CPU to
// each other with sleep(0). The seed's text is kept verbatim, typos included.
#include <chrono>
#include <cstdio>

#include <green/green.hpp>

using namespace std::chrono_literals;

namespace {

void foo() {
  std::puts("Running in foo");
  green::sleep(0s);
  std::puts("Emplict context switch to foo again");
}

void bar() {
  std::puts("Emplict context to bar");
  green::sleep(0s);
  std::puts("Implicit swtich switch back to bar");
}

}  // namespace

int main() {
  green::joinall({
      green::spawn(foo),
      green::spawn(bar),
  });
}
