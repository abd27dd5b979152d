// Twin of seed 002 "Determinism": four imap_unordered(echo, 0..9) runs on a Pool(10) give the
// same order. echo's time.sleep is not monkey-patched, so it blocks the thread: here sleep_for,
// which greenshim leaves alone without patch_all(). The multiprocessing half is commented out.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <green/green.hpp>

namespace {

int echo(int i) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return i;
}

}  // namespace

int main() {
  std::vector<int> inputs;
  for (int i = 0; i < 10; ++i) inputs.push_back(i);

  green::Pool p(10);
  const auto run1 = p.imap_unordered(echo, inputs).to_vector();
  const auto run2 = p.imap_unordered(echo, inputs).to_vector();
  const auto run3 = p.imap_unordered(echo, inputs).to_vector();
  const auto run4 = p.imap_unordered(echo, inputs).to_vector();

  const bool same = run1 == run2 && run2 == run3 && run3 == run4;
  std::puts(same ? "True" : "False");
}
