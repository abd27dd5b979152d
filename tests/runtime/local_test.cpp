// local<T>: one value per greenlet, created on first use, destroyed when that greenlet ends
// (returns, throws, or is killed); the main greenlet of each thread has its own.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

namespace {

std::atomic<int> destroyed{0};

struct Tracked {
  int value = 0;
  ~Tracked() { ++destroyed; }
};

local<int>* other_local = nullptr;
int toucher_saw = -1;

// Reads another local from its destructor, which runs as its greenlet ends.
struct Toucher {
  ~Toucher() { toucher_saw = **other_local; }
};

}  // namespace

TEST(Local, EachGreenletSeesItsOwnValue) {
  local<int> v;
  *v = 100;  // the main greenlet's
  std::vector<Greenlet<bool>> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(spawn([&v, i] {
      if (v.has_value() || *v != 0) return false;  // fresh, default-constructed
      v = i;
      for (int k = 0; k < 3; ++k) {
        yield();
        if (*v != i) return false;
        sleep(1ms);
      }
      return v.get() == i;
    }));
  }
  for (auto& g : gs) EXPECT_TRUE(g.get(1s));
  EXPECT_EQ(*v, 100);
}

TEST(Local, DistinctLocalsAreIndependent) {
  local<int> a;
  local<std::string> b;
  auto g = spawn([&] {
    *a = 1;
    *b = "one";
    yield();
    return std::to_string(*a) + *b + std::to_string(b->size());
  });
  *a = 2;
  *b = "two";
  EXPECT_EQ(g.get(1s), "1one3");
  EXPECT_EQ(*a, 2);
  EXPECT_EQ(*b, "two");
}

TEST(Local, HasValueOnlyOnceTouched) {
  local<int> v;
  auto g = spawn([&] {
    const bool before = v.has_value();
    v.get();
    return !before && v.has_value();
  });
  EXPECT_TRUE(g.get(1s));
}

TEST(Local, DestroyedWhenItsGreenletEnds) {
  local<Tracked> t;
  destroyed = 0;
  auto ok = spawn([&] { t->value = 1; });
  ok.join();
  EXPECT_EQ(destroyed, 1);

  auto thrower = spawn([&] {
    t->value = 2;
    throw std::runtime_error("x");
  });
  thrower.join();
  EXPECT_EQ(destroyed, 2);

  Event never;
  auto victim = spawn([&] {
    t->value = 3;
    never.wait();
  });
  yield();
  EXPECT_EQ(destroyed, 2);
  victim.kill();
  EXPECT_EQ(destroyed, 3);

  auto untouched = spawn([] {});
  untouched.join();
  EXPECT_EQ(destroyed, 3);
}

TEST(Local, DestructorMayBlock) {
  struct Blocking {
    bool* done;
    ~Blocking() {
      sleep(2ms);
      *done = true;
    }
  };
  local<std::unique_ptr<Blocking>> v;
  bool done = false;
  auto g = spawn([&] { v->reset(new Blocking{&done}); });
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(done);
  EXPECT_TRUE(g.successful());
}

// The runtime destroys locals while their greenlet can still park, so that their
// destructors may block. A kill arriving then must not be thrown out of that destructor
// (std::terminate). In a child process, since that takes the process down.
GREEN_TEST_CHILD(kill_while_locals_are_destroyed) {
  struct SlowToDestroy {
    bool* done;
    ~SlowToDestroy() {
      sleep(20ms);
      *done = true;
    }
  };
  local<std::unique_ptr<SlowToDestroy>> v;
  bool done = false;
  auto g = spawn([&] { v->reset(new SlowToDestroy{&done}); });
  yield();  // the body has returned; its local's destructor is parked in sleep()
  const bool finished = g.kill(true, 1s);
  std::printf("finished=%d done=%d\n", finished ? 1 : 0, done ? 1 : 0);
  return 0;
}

TEST(Local, KillWhileLocalsAreDestroyedDoesNotTerminate) {
  const ChildResult r = run_child("kill_while_locals_are_destroyed", {});
  EXPECT_TRUE(r.exited_ok()) << r.describe();
  EXPECT_NE(r.output.find("finished=1 done=1"), std::string::npos) << r.output;
}

TEST(Local, DestructorMayTouchAnotherLocal) {
  local<int> other;
  other_local = &other;
  local<Toucher> toucher;
  toucher_saw = -1;
  auto g = spawn([&] {
    *other = 5;
    toucher.get();  // created after `other`: destroyed first, while `other` is alive
  });
  EXPECT_TRUE(g.join(1s));
  EXPECT_TRUE(g.successful());
  EXPECT_EQ(toucher_saw, 5);
}

TEST(Local, EachThreadsMainGreenletHasItsOwnAndItIsDestroyedAtThreadExit) {
  local<Tracked> t;
  t->value = 1;
  destroyed = 0;
  int seen_in_thread = -1;
  std::thread th([&] {
    seen_in_thread = t->value;  // fresh in this thread's main greenlet
    t->value = 2;
  });
  th.join();
  EXPECT_EQ(seen_in_thread, 0);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(t->value, 1);
}
