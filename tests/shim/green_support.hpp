// What every tests/shim/*_green_test.cpp shares: these link the library and call
// green::patch_all() (support.hpp stays plain POSIX for the plain tests).
#pragma once

#include <green/green.hpp>

#include <memory>
#include <vector>

#include "support.hpp"

namespace shim_test {

class PatchAll : public testing::Environment {
  void SetUp() override { green::patch_all(); }
};
inline testing::Environment* const patch_env = testing::AddGlobalTestEnvironment(new PatchAll);

// The greenlets a test spawns: joined with a bound, and killed if still alive at scope
// exit (a parked greenlet must not outlive the stack objects it uses).
class Crew {
 public:
  Crew() = default;
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;
  template <class F>
  green::AnyGreenlet spawn(F&& f) {
    gs_.push_back(green::spawn(std::forward<F>(f)));
    return gs_.back();
  }
  // Greenlets may join the crew while it is being joined (an accept loop's handlers).
  bool join(green::Duration limit = std::chrono::seconds(5)) {
    const auto end = Clock::now() + limit;
    for (size_t i = 0; i < gs_.size(); ++i) {
      const green::AnyGreenlet g = gs_[i];
      if (!g.join(std::max<green::Duration>(green::Duration(0), end - Clock::now()))) return false;
    }
    return true;
  }
  ~Crew() {
    for (auto& g : gs_) {
      if (!g.dead() && !g.kill(true, std::chrono::seconds(1))) ADD_FAILURE() << "greenlet survived kill";
    }
  }

 private:
  std::vector<green::AnyGreenlet> gs_;
};

// A greenlet that counts 1 ms sleeps (plain usleep): it advances only while the others
// let the thread go.
class Ticker {
 public:
  explicit Ticker(Crew& crew) : s_(std::make_shared<State>()) {
    crew.spawn([s = s_] {
      while (!s->stop) {
        ::usleep(1000);
        ++s->ticks;
      }
    });
  }
  ~Ticker() { s_->stop = true; }
  int ticks() const { return s_->ticks; }

 private:
  struct State {
    int ticks = 0;
    bool stop = false;
  };
  std::shared_ptr<State> s_;
};

}  // namespace shim_test
