// Queue: FIFO, a bound that parks the producer, the _nowait variants, timeouts, and no
// item (or turn) lost when a waiter is killed or times out just as the item arrives.
#include <memory>
#include <vector>

#include "support.hpp"

using namespace green;
using namespace green_test;

TEST(Queue, DeliversInFifoOrder) {
  Queue<int> q;
  for (int i = 0; i < 5; ++i) q.put(i);
  EXPECT_EQ(q.size(), 5u);
  EXPECT_FALSE(q.full());  // unbounded
  for (int i = 0; i < 5; ++i) EXPECT_EQ(q.get(), i);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, GetParksUntilAPut) {
  Queue<int> q;
  auto getter = spawn([&] { return q.get(); });
  yield();
  EXPECT_FALSE(getter.dead());
  q.put(9);
  EXPECT_EQ(getter.get(1s), 9);
}

TEST(Queue, MaxsizeParksTheProducer) {
  Queue<int> q(2);
  int produced = 0;
  auto producer = spawn([&] {
    for (int i = 0; i < 5; ++i) {
      q.put(i);
      ++produced;
    }
  });
  yield();
  EXPECT_EQ(produced, 2);
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.maxsize(), 2u);
  std::vector<int> got;
  for (int i = 0; i < 5; ++i) {
    got.push_back(q.get());
    yield();
    EXPECT_LE(q.size(), 2u);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(produced, 5);
  EXPECT_TRUE(producer.join(1s));
}

TEST(Queue, NowaitVariantsThrow) {
  Queue<int> q(1);
  EXPECT_THROW(q.get_nowait(), QueueEmpty);
  q.put_nowait(1);
  EXPECT_THROW(q.put_nowait(2), QueueFull);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_THROW(q.get_nowait(), QueueEmpty);
}

TEST(Queue, GetTimesOutWithQueueEmpty) {
  Queue<int> q;
  const auto t0 = Clock::now();
  EXPECT_THROW(q.get(20ms), QueueEmpty);
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_LT(ms(since(t0)), 900);
  EXPECT_THROW(q.get(0ms), QueueEmpty);
}

TEST(Queue, PutTimesOutWithQueueFull) {
  Queue<int> q(1);
  q.put(1);
  const auto t0 = Clock::now();
  EXPECT_THROW(q.put(2, 20ms), QueueFull);
  EXPECT_GE(ms(since(t0)), 20);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.get(), 1);
}

TEST(Queue, GetWithTimeoutReturnsAnItemThatArrivesInTime) {
  Queue<int> q;
  auto producer = spawn([&] {
    sleep(5ms);
    q.put(3);
  });
  EXPECT_EQ(q.get(2s), 3);
  producer.join();
}

TEST(Queue, GettersAreServedInArrivalOrder) {
  Queue<int> q;
  std::vector<int> order;
  std::vector<Greenlet<void>> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(spawn([&, i] {
      q.get();
      order.push_back(i);
    }));
  }
  yield();
  for (int i = 0; i < 4; ++i) q.put(i);
  EXPECT_TRUE(joinall(gs, 1s));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(Queue, CarriesMoveOnlyItems) {
  Queue<std::unique_ptr<int>> q(1);
  auto producer = spawn([&] {
    for (int i = 0; i < 3; ++i) q.put(std::make_unique<int>(i));
  });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*q.get(), i);
  producer.join();
}

// --- nothing lost --------------------------------------------------------------------------

// Killed first, item second: the item goes to the next getter, or stays in the queue.
TEST(Queue, ItemSkipsAGetterKilledBeforeItArrives) {
  Queue<int> q;
  GreenletGuard guard;
  auto a = guard(spawn([&] { return q.get(); }));
  auto b = guard(spawn([&] { return q.get(); }));
  yield();
  a.kill(false);
  q.put(7);
  EXPECT_EQ(b.get(1s), 7);
  EXPECT_TRUE(a.join(1s));
  EXPECT_TRUE(a.killed());

  auto c = guard(spawn([&] { return q.get(); }));
  yield();
  c.kill(false);
  q.put(8);
  EXPECT_TRUE(c.join(1s));
  EXPECT_TRUE(c.killed());
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.get_nowait(), 8);
}

// Item first, kill second: the getter was handed the item and receives it; it dies at its
// next blocking call.
TEST(Queue, GetterKilledJustAfterTheItemArrivesStillReceivesIt) {
  Queue<int> q;
  int received = -1;
  bool reached_second_wait = false;
  GreenletGuard guard;
  auto a = guard(spawn([&] {
    received = q.get();
    reached_second_wait = true;
    q.get();
  }));
  yield();
  q.put(7);
  a.kill(false);
  EXPECT_TRUE(a.join(1s));
  EXPECT_TRUE(a.killed());
  const bool in_queue = !q.empty();
  EXPECT_TRUE((received == 7) != in_queue) << "item lost or duplicated";
  EXPECT_TRUE(received != 7 || reached_second_wait);
}

// The getter's deadline and the producer's put fall in the same poll: the item must end
// up in exactly one place (the getter, another getter, or the queue).
TEST(Queue, NoItemLostWhenAGetterTimesOutAsItArrives) {
  Queue<int> q;
  int timed_out_getter = -1;
  int other_getter = -1;
  GreenletGuard guard;
  auto producer = guard(spawn([&] {
    sleep(5ms);  // expires first in the poll below
    q.put(7);
  }));
  auto getter = guard(spawn([&] {
    try {
      timed_out_getter = q.get(10ms);
    } catch (const QueueEmpty&) {
    }
  }));
  auto other = guard(spawn([&] {
    try {
      other_getter = q.get(100ms);
    } catch (const QueueEmpty&) {
    }
  }));
  yield();
  busy_wait(30ms);
  EXPECT_TRUE(joinall({producer, getter, other}, 2s));
  const int copies = (timed_out_getter == 7) + (other_getter == 7) + static_cast<int>(q.size());
  EXPECT_EQ(copies, 1) << "getter " << timed_out_getter << ", other " << other_getter
                       << ", queued " << q.size();
}

TEST(Queue, KilledPutterInsertsNothingAndPassesItsTurnOn) {
  Queue<int> q(1);
  q.put(0);
  GreenletGuard guard;
  auto p1 = guard(spawn([&] { q.put(1); }));
  auto p2 = guard(spawn([&] { q.put(2); }));
  yield();
  p1.kill(false);
  EXPECT_EQ(q.get(), 0);  // frees the slot: the turn must reach p2, not the dying p1
  EXPECT_TRUE(joinall({p1, p2}, 1s));
  EXPECT_TRUE(p1.killed());
  EXPECT_TRUE(p2.successful());
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.get_nowait(), 2);
}

TEST(Queue, BoundedQueueBetweenManyProducersAndConsumers) {
  Queue<int> q(3);
  std::vector<Greenlet<void>> producers;
  std::vector<Greenlet<long>> consumers;
  for (int p = 0; p < 4; ++p) {
    producers.push_back(spawn([&q, p] {
      for (int i = 0; i < 50; ++i) {
        q.put(p * 1000 + i);
        if (i % 7 == 0) sleep(0ms);
      }
    }));
  }
  for (int c = 0; c < 3; ++c) {
    consumers.push_back(spawn([&q] {
      long sum = 0;
      for (;;) {
        const int v = q.get();
        if (v < 0) return sum;
        sum += v;
      }
    }));
  }
  EXPECT_TRUE(joinall(producers, 2s));
  for (int c = 0; c < 3; ++c) q.put(-1);
  long total = 0;
  for (auto& c : consumers) total += c.get(2s);
  long expected = 0;
  for (int p = 0; p < 4; ++p) {
    for (int i = 0; i < 50; ++i) expected += p * 1000 + i;
  }
  EXPECT_EQ(total, expected);
}
