// Group and Pool: a Pool bounds how many members run at once (its spawn() parks the
// caller); map() keeps input order; imap_unordered() yields in completion order; a Group
// joins and kills its members; slots come back however a member ends.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(Pool, BoundsConcurrency) {
  Pool pool(3);
  EXPECT_EQ(pool.capacity(), 3u);
  int running = 0, most = 0, done = 0;
  for (int i = 0; i < 12; ++i) {
    pool.spawn([&] {
      most = std::max(most, ++running);
      sleep(2ms);
      --running;
      ++done;
    });
    EXPECT_LE(pool.size(), 3u);
  }
  EXPECT_TRUE(pool.join(2s));
  EXPECT_EQ(most, 3);
  EXPECT_EQ(done, 12);
  EXPECT_EQ(pool.free_count(), 3u);
  EXPECT_EQ(pool.size(), 0u);
}

TEST(Pool, SpawnParksTheCallerWhileFull) {
  Pool pool(1);
  Event go;
  auto first = pool.spawn([&] { go.wait(); });
  EXPECT_TRUE(pool.full());
  EXPECT_EQ(pool.free_count(), 0u);
  auto releaser = spawn([&] {
    sleep(20ms);
    go.set();
  });
  const auto t0 = Clock::now();
  auto second = pool.spawn([] { return 2; });  // parks until `first` ends
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_TRUE(first.dead());
  EXPECT_EQ(second.get(1s), 2);
  releaser.join();
}

TEST(Pool, SlotComesBackWhenAMemberThrowsOrIsKilled) {
  Pool pool(1);
  auto thrower = pool.spawn([] { throw std::runtime_error("x"); });
  thrower.join();
  EXPECT_EQ(pool.free_count(), 1u);

  Event never;
  auto blocked = pool.spawn([&] { never.wait(); });
  yield();
  EXPECT_TRUE(blocked.kill(true, 1s));
  EXPECT_EQ(pool.free_count(), 1u);

  bool ran = false;
  auto unstarted = pool.spawn([&] { ran = true; });
  EXPECT_TRUE(unstarted.kill(true, 1s));  // killed before it ever ran
  EXPECT_FALSE(ran);
  EXPECT_EQ(pool.free_count(), 1u);
}

TEST(Pool, MapKeepsInputOrder) {
  Pool pool(4);
  const std::vector<int> inputs = {40, 5, 25, 15, 1};
  const auto out = pool.map(
      [](int d) {
        sleep(std::chrono::milliseconds(d));
        return d * 10;
      },
      inputs);
  EXPECT_EQ(out, (std::vector<int>{400, 50, 250, 150, 10}));

  Group group;
  const auto strs = group.map([](int i) { return std::to_string(i); }, std::vector<int>{3, 1, 2});
  EXPECT_EQ(strs, (std::vector<std::string>{"3", "1", "2"}));
}

TEST(Pool, MapRethrowsTheFirstExceptionInInputOrderAfterAllFinish) {
  Pool pool(5);
  int finished = 0;
  try {
    pool.map(
        [&](int i) {
          sleep(std::chrono::milliseconds(i == 2 ? 20 : i == 4 ? 1 : 5));
          ++finished;
          if (i == 2 || i == 4) throw std::runtime_error("input " + std::to_string(i));
          return i;
        },
        std::vector<int>{1, 2, 3, 4, 5});
    ADD_FAILURE() << "map() swallowed the exceptions";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "input 2");
  }
  EXPECT_EQ(finished, 5);
}

TEST(Pool, ImapUnorderedYieldsInCompletionOrder) {
  Group group;
  std::vector<int> got;
  for (int v : group.imap_unordered(
           [](int d) {
             sleep(std::chrono::milliseconds(d));
             return d;
           },
           std::vector<int>{30, 10, 20, 1})) {
    got.push_back(v);
  }
  EXPECT_EQ(got, (std::vector<int>{1, 10, 20, 30}));
}

TEST(Pool, ImapUnorderedOnAPoolOfOneKeepsInputOrder) {
  Pool pool(1);
  auto results = pool.imap_unordered(
      [](int d) {
        sleep(std::chrono::milliseconds(d));
        return d;
      },
      std::vector<int>{20, 1, 10});
  EXPECT_EQ(results.to_vector(), (std::vector<int>{20, 1, 10}));
  EXPECT_TRUE(pool.join(1s));
}

TEST(Pool, ImapUnorderedOnABoundedPoolDeliversWhileFull) {
  Pool pool(2);
  std::vector<int> got;
  for (int v : pool.imap_unordered([](int i) { sleep(1ms); return i; },
                                   std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7})) {
    got.push_back(v);
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Pool, ImapUnorderedRethrowsAFailure) {
  Group group;
  std::vector<int> got;
  try {
    for (int v : group.imap_unordered(
             [](int i) {
               sleep(std::chrono::milliseconds(i));
               if (i == 10) throw std::runtime_error("ten");
               return i;
             },
             std::vector<int>{1, 10, 20})) {
      got.push_back(v);
    }
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "ten");
  }
  EXPECT_EQ(got, (std::vector<int>{1}));
  EXPECT_TRUE(group.join(1s));
}

TEST(Pool, EmptyInputs) {
  Pool pool(2);
  EXPECT_TRUE(pool.map([](int i) { return i; }, std::vector<int>{}).empty());
  EXPECT_TRUE(pool.imap_unordered([](int i) { return i; }, std::vector<int>{}).to_vector().empty());
}

// --- Group ---------------------------------------------------------------------------------

TEST(Group, JoinWaitsForEveryMemberIncludingLateOnes) {
  Group group;
  int done = 0;
  group.spawn([&] {
    sleep(5ms);
    group.spawn([&] {
      sleep(10ms);
      ++done;
    });
    ++done;
  });
  group.spawn([&] { ++done; });
  EXPECT_TRUE(group.join(2s));
  EXPECT_EQ(done, 3);
  EXPECT_EQ(group.size(), 0u);
}

TEST(Group, JoinTimesOut) {
  Group group;
  Event go;
  group.spawn([&] { go.wait(); });
  const auto t0 = Clock::now();
  EXPECT_FALSE(group.join(20ms));
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_EQ(group.size(), 1u);
  go.set();
  EXPECT_TRUE(group.join(1s));
}

TEST(Group, KillKillsEveryMember) {
  struct Raii {
    int* n;
    ~Raii() { ++*n; }
  };
  Group group;
  Event never;
  int unwound = 0;
  bool unstarted_ran = false;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(group.spawn([&] {
      Raii r{&unwound};
      never.wait();
    }));
  }
  yield();
  gs.push_back(group.spawn([&] { unstarted_ran = true; }));
  EXPECT_EQ(group.size(), 5u);
  group.kill(true, 1s);
  EXPECT_EQ(group.size(), 0u);
  EXPECT_EQ(unwound, 4);
  EXPECT_FALSE(unstarted_ran);
  for (auto& g : gs) EXPECT_TRUE(g.killed());
}

TEST(Group, KillWithoutBlockReturnsBeforeTheyDie) {
  Group group;
  Event never;
  auto g = group.spawn([&] { never.wait(); });
  yield();
  group.kill(false);
  EXPECT_FALSE(g.dead());
  EXPECT_TRUE(group.join(1s));
  EXPECT_TRUE(g.killed());
}

TEST(Group, AddDiscardContains) {
  Group group;
  Event go;
  GreenletGuard guard;
  auto a = guard(spawn([&] { go.wait(); }));
  auto b = guard(spawn([&] { go.wait(); }));
  group.add(a);
  group.add(a);
  group.add(b);
  EXPECT_TRUE(group.contains(a));
  EXPECT_EQ(group.size(), 2u);
  group.discard(b);
  EXPECT_FALSE(group.contains(b));
  EXPECT_EQ(group.size(), 1u);
  go.set();
  EXPECT_TRUE(group.join(1s));
  EXPECT_TRUE(a.dead());
  EXPECT_TRUE(b.join(1s));
}

// Every member delivers one item, even one killed before it ever ran: iteration ends.
TEST(Pool, ImapUnorderedDeliversAnItemForEveryMemberEvenKilledOnes) {
  Pool pool(2);
  auto results = pool.imap_unordered(
      [](int i) {
        green::sleep(std::chrono::milliseconds(10 * i));
        return i;
      },
      std::vector<int>{1, 2, 3, 4});
  green::sleep(std::chrono::milliseconds(15));
  pool.kill();
  int values = 0;
  int exits = 0;
  green::Timeout bound(std::chrono::seconds(2));
  for (auto it = results.begin(); it != results.end(); ++it) {
    try {
      (void)*it;
      ++values;
    } catch (const GreenletExit&) {
      ++exits;
    }
  }
  EXPECT_EQ(values + exits, 4);
  EXPECT_GE(values, 1);  // member 1 finished after 10 ms
  EXPECT_GE(exits, 1);
}
