// shim/key.cpp, as a plain POSIX program: pthread_key_create/delete and
// pthread_getspecific/setspecific give each thread its own value; destructors run at
// thread exit with the thread's value, repeated up to PTHREAD_DESTRUCTOR_ITERATIONS
// rounds while they set values again. Runs without the shim and under LD_PRELOAD (where
// the threads are greenlets of one OS thread).
#include <limits.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class KeyTest : public ThreadsTest {};

// What the destructors saw, for the test to check after the join.
std::mutex seen_mu;
std::vector<std::uintptr_t> seen;
void record(void* v) {
  std::lock_guard<std::mutex> lock(seen_mu);
  seen.push_back(as_int(v));
}
std::vector<std::uintptr_t> take_seen() {
  std::lock_guard<std::mutex> lock(seen_mu);
  return std::exchange(seen, {});
}

}  // namespace

TEST_F(KeyTest, EachThreadHasItsOwnValue) {
  pthread_key_t k;
  ASSERT_EQ(::pthread_key_create(&k, nullptr), 0);
  ASSERT_EQ(::pthread_setspecific(k, as_ptr(1000)), 0);
  constexpr int kN = 16;
  std::atomic<int> set{0};
  std::vector<pthread_t> ts;
  for (std::uintptr_t i = 0; i < kN; ++i) {
    ts.push_back(spawn([&, i]() -> void* {
      if (::pthread_getspecific(k) != nullptr) return as_ptr(1);  // a new thread starts at NULL
      if (::pthread_setspecific(k, as_ptr(i + 1)) != 0) return as_ptr(2);
      set.fetch_add(1);
      // Everyone has set a value before anyone reads it back; the sleeps interleave them.
      wait_until([&] { return set.load() == kN; });
      sleep_ms(static_cast<int>(i % 3));
      return as_ptr(as_int(::pthread_getspecific(k)) == i + 1 ? 100 : 3);
    }));
  }
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 100u);
  EXPECT_EQ(as_int(::pthread_getspecific(k)), 1000u) << "a thread's value leaked into main";
  ASSERT_EQ(::pthread_setspecific(k, nullptr), 0);
  EXPECT_EQ(::pthread_key_delete(k), 0);
}

TEST_F(KeyTest, DestructorRunsAtThreadExitWithTheValue) {
  pthread_key_t k;
  ASSERT_EQ(::pthread_key_create(&k, &record), 0);
  take_seen();
  std::vector<pthread_t> ts;
  for (std::uintptr_t i = 0; i < 8; ++i) {
    ts.push_back(spawn([k, i]() -> void* {
      ::pthread_setspecific(k, as_ptr(500 + i));
      return nullptr;
    }));
  }
  // A thread that leaves its value NULL gets no destructor call.
  ts.push_back(spawn([]() -> void* { return nullptr; }));
  // Nor one that set a value and cleared it again.
  ts.push_back(spawn([k]() -> void* {
    ::pthread_setspecific(k, as_ptr(77));
    ::pthread_setspecific(k, nullptr);
    return nullptr;
  }));
  for (pthread_t t : ts) join(t);
  std::vector<std::uintptr_t> got = take_seen();
  std::sort(got.begin(), got.end());
  std::vector<std::uintptr_t> want;
  for (std::uintptr_t i = 0; i < 8; ++i) want.push_back(500 + i);
  EXPECT_EQ(got, want);
  EXPECT_EQ(::pthread_key_delete(k), 0);
}

TEST_F(KeyTest, DestructorRunsWhenTheThreadExitsOrIsCancelled) {
  pthread_key_t k;
  ASSERT_EQ(::pthread_key_create(&k, &record), 0);
  take_seen();
  pthread_t exiting = spawn([k]() -> void* {
    ::pthread_setspecific(k, as_ptr(1));
    ::pthread_exit(as_ptr(5));
  });
  EXPECT_EQ(as_int(join(exiting)), 5u);
  auto p = socket_pair();
  pthread_t cancelled = spawn([k, fd = p.a.get()]() -> void* {
    ::pthread_setspecific(k, as_ptr(2));
    char c;
    (void)!::read(fd, &c, 1);
    return nullptr;
  });
  sleep_ms(30);
  EXPECT_EQ(::pthread_cancel(cancelled), 0);
  EXPECT_EQ(join(cancelled), PTHREAD_CANCELED);
  EXPECT_EQ(take_seen(), (std::vector<std::uintptr_t>{1, 2}));
  EXPECT_EQ(::pthread_key_delete(k), 0);
}

namespace {
pthread_key_t self_key;
pthread_key_t other_key;
std::atomic<int> dtor_calls{0};
std::atomic<int> resets_left{0};
std::atomic<bool> saw_null_inside{true};
// Sets its own key's value again while `resets_left` says so.
void resetting_dtor(void* v) {
  if (::pthread_getspecific(self_key) != nullptr) saw_null_inside = false;  // cleared before the call
  dtor_calls.fetch_add(1);
  if (resets_left.fetch_sub(1) > 0) ::pthread_setspecific(self_key, v);
}
void sets_other_key(void*) {
  dtor_calls.fetch_add(1);
  ::pthread_setspecific(other_key, as_ptr(9));  // a key whose destructor runs next round
}
}  // namespace

// POSIX leaves what happens to values set again by destructors to the implementation,
// up to PTHREAD_DESTRUCTOR_ITERATIONS rounds; glibc calls a destructor that keeps setting
// its value exactly that many times, and stops as soon as a round sets nothing.
TEST_F(KeyTest, DestructorSettingTheValueAgainRunsAtMostIterationsTimes) {
  ASSERT_EQ(::pthread_key_create(&self_key, &resetting_dtor), 0);
  dtor_calls = 0;
  // Always sets it again (bounded here, so that an implementation that does not stop
  // after PTHREAD_DESTRUCTOR_ITERATIONS rounds fails this test instead of hanging).
  resets_left = 1000;
  saw_null_inside = true;
  join(spawn([]() -> void* {
    ::pthread_setspecific(self_key, as_ptr(1));
    return nullptr;
  }));
  EXPECT_EQ(dtor_calls.load(), PTHREAD_DESTRUCTOR_ITERATIONS);
  EXPECT_TRUE(saw_null_inside.load()) << "the value must be NULL when its destructor runs";

  dtor_calls = 0;
  resets_left = 1;  // sets it again once: two calls
  join(spawn([]() -> void* {
    ::pthread_setspecific(self_key, as_ptr(1));
    return nullptr;
  }));
  EXPECT_EQ(dtor_calls.load(), 2);
  EXPECT_EQ(::pthread_key_delete(self_key), 0);
}

TEST_F(KeyTest, ValueSetForAnotherKeyByADestructorIsDestroyedToo) {
  ASSERT_EQ(::pthread_key_create(&self_key, &sets_other_key), 0);
  ASSERT_EQ(::pthread_key_create(&other_key, &record), 0);
  take_seen();
  dtor_calls = 0;
  join(spawn([]() -> void* {
    ::pthread_setspecific(self_key, as_ptr(1));
    return nullptr;
  }));
  EXPECT_EQ(dtor_calls.load(), 1);
  EXPECT_EQ(take_seen(), (std::vector<std::uintptr_t>{9}));
  EXPECT_EQ(::pthread_key_delete(self_key), 0);
  EXPECT_EQ(::pthread_key_delete(other_key), 0);
}

TEST_F(KeyTest, DeletedKeyRunsNoDestructorAndRejectsSetspecific) {
  pthread_key_t k;
  ASSERT_EQ(::pthread_key_create(&k, &record), 0);
  take_seen();
  std::atomic<int> stage{0};
  pthread_t t = spawn([&]() -> void* {
    ::pthread_setspecific(k, as_ptr(3));
    stage = 1;
    wait_until([&] { return stage.load() == 2; });
    return nullptr;
  });
  ASSERT_TRUE(wait_until([&] { return stage.load() == 1; }));
  EXPECT_EQ(::pthread_key_delete(k), 0);  // the thread still holds a value
  stage = 2;
  join(t);
  EXPECT_TRUE(take_seen().empty()) << "a deleted key's destructor ran";
  EXPECT_EQ(::pthread_setspecific(k, as_ptr(1)), EINVAL);
}

TEST_F(KeyTest, RecreatedKeyDoesNotSeeTheOldValue) {
  pthread_key_t k1;
  ASSERT_EQ(::pthread_key_create(&k1, nullptr), 0);
  pthread_t t = spawn([&k1]() -> void* {
    ::pthread_setspecific(k1, as_ptr(11));
    if (::pthread_key_delete(k1) != 0) return as_ptr(1);
    pthread_key_t k2;
    if (::pthread_key_create(&k2, nullptr) != 0) return as_ptr(2);
    // Likely the same slot (glibc and the shim reuse the lowest free one): its value for
    // this thread must still start at NULL.
    void* v = ::pthread_getspecific(k2);
    ::pthread_key_delete(k2);
    return v == nullptr ? as_ptr(100) : as_ptr(3);
  });
  EXPECT_EQ(as_int(join(t)), 100u);
}

TEST_F(KeyTest, ManyKeysManyThreads) {
  constexpr int kKeys = 100;
  constexpr int kThreads = 50;
  std::vector<pthread_key_t> keys(kKeys);
  for (auto& k : keys) ASSERT_EQ(::pthread_key_create(&k, nullptr), 0);
  std::set<pthread_key_t> distinct(keys.begin(), keys.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kKeys));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<pthread_t> ts;
  for (std::uintptr_t t = 0; t < kThreads; ++t) {
    ts.push_back(spawn([&, t]() -> void* {
      for (std::uintptr_t i = 0; i < kKeys; ++i) ::pthread_setspecific(keys[i], as_ptr(t * 1000 + i + 1));
      ready.fetch_add(1);
      wait_until([&] { return go.load(); });
      for (std::uintptr_t i = 0; i < kKeys; ++i) {
        if (as_int(::pthread_getspecific(keys[i])) != t * 1000 + i + 1) return as_ptr(1);
      }
      return as_ptr(100);
    }));
  }
  ASSERT_TRUE(wait_until([&] { return ready.load() == kThreads; }));
  expect_threads_alive(kThreads);
  go = true;
  for (pthread_t t : ts) EXPECT_EQ(as_int(join(t)), 100u);
  for (auto k : keys) EXPECT_EQ(::pthread_key_delete(k), 0);
}

// POSIX: at least PTHREAD_KEYS_MAX keys per process; glibc has exactly that many, some
// already taken by libraries, and the next create fails with EAGAIN. A deleted key's
// number can be created again.
TEST_F(KeyTest, KeysUpToTheLimitThenEagain) {
  std::vector<pthread_key_t> keys;
  pthread_key_t k;
  int rc;
  while ((rc = ::pthread_key_create(&k, nullptr)) == 0 && keys.size() <= 2 * PTHREAD_KEYS_MAX) keys.push_back(k);
  EXPECT_EQ(rc, EAGAIN);
  EXPECT_LE(keys.size(), static_cast<size_t>(PTHREAD_KEYS_MAX));
  EXPECT_GE(keys.size(), static_cast<size_t>(PTHREAD_KEYS_MAX - 64)) << "only a few may be taken before main";
  ASSERT_FALSE(keys.empty());
  ASSERT_EQ(::pthread_key_delete(keys.back()), 0);
  keys.pop_back();
  ASSERT_EQ(::pthread_key_create(&k, nullptr), 0) << "a deleted key is free again";
  keys.push_back(k);
  EXPECT_EQ(::pthread_key_create(&k, nullptr), EAGAIN);
  for (auto key : keys) EXPECT_EQ(::pthread_key_delete(key), 0);
}
