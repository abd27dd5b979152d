// AsyncResult: a one-shot value or exception, waited for by any number of greenlets.
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(AsyncResult, GetReturnsAValueSetLater) {
  AsyncResult<std::string> r;
  auto setter = spawn([&] {
    sleep(5ms);
    r.set("hello");
  });
  EXPECT_FALSE(r.ready());
  EXPECT_EQ(r.get(), "hello");
  EXPECT_TRUE(r.ready());
  EXPECT_TRUE(r.successful());
  EXPECT_FALSE(r.exception());
  setter.join();
}

TEST(AsyncResult, GetAfterSetReturnsAtOnce) {
  AsyncResult<int> r;
  r.set(7);
  const auto t0 = Clock::now();
  EXPECT_TRUE(r.wait(0ms));
  EXPECT_EQ(r.get(), 7);
  EXPECT_EQ(r.get(1s), 7);  // get() does not consume
  EXPECT_LT(ms(since(t0)), 500);
}

TEST(AsyncResult, EveryWaiterSeesTheValue) {
  AsyncResult<int> r;
  std::vector<Greenlet<int>> gs;
  for (int i = 0; i < 4; ++i) gs.push_back(spawn([&] { return r.get(); }));
  yield();
  r.set(42);
  for (auto& g : gs) EXPECT_EQ(g.get(1s), 42);
}

TEST(AsyncResult, SetExceptionIsRethrownToEveryWaiter) {
  AsyncResult<int> r;
  auto waiter = spawn([&] {
    try {
      r.get();
      return std::string("no exception");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
  });
  yield();
  r.set_exception(std::make_exception_ptr(std::runtime_error("bad")));
  EXPECT_EQ(waiter.get(1s), "bad");
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
  EXPECT_TRUE(r.exception());
  EXPECT_THROW(r.get(), std::runtime_error);
}

TEST(AsyncResult, GetTimesOutWithTimeoutError) {
  AsyncResult<int> r;
  const auto t0 = Clock::now();
  try {
    r.get(20ms);
    ADD_FAILURE() << "get() returned an unset result";
  } catch (const TimeoutError& e) {
    EXPECT_EQ(e.source, nullptr);
  }
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_FALSE(r.wait(10ms));
  EXPECT_FALSE(r.ready());
}

TEST(AsyncResult, VoidResult) {
  AsyncResult<> r;
  auto setter = spawn([&] { r.set(); });
  EXPECT_NO_THROW(r.get(1s));
  EXPECT_TRUE(r.successful());
  setter.join();
}

TEST(AsyncResult, KilledWaiterDoesNotHoldTheOthersBack) {
  AsyncResult<int> r;
  GreenletGuard guard;
  auto a = guard(spawn([&] { return r.get(); }));
  auto b = guard(spawn([&] { return r.get(); }));
  yield();
  a.kill(false);
  r.set(5);
  EXPECT_EQ(b.get(1s), 5);
  EXPECT_TRUE(a.join(1s));
  EXPECT_TRUE(a.killed());
}
