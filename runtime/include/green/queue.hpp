// Queue<T>: FIFO between greenlets (gevent.queue.Queue). maxsize 0 means unbounded; with a
// bound, put() parks while the queue is full. Woken waiters re-check the queue, so an item
// is never handed to a greenlet that then dies of a kill or Timeout: nothing is lost.
#pragma once

#include <cstddef>
#include <deque>
#include <utility>

#include "detail/core.hpp"
#include "errors.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

template <class T>
class Queue {
 public:
  explicit Queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Parks while full; QueueFull if `timeout` passes first.
  void put(T item, Duration timeout = forever) {
    const detail::Deadline deadline = detail::deadline_after(timeout);
    while (full()) {
      if (detail::wait_on(putters_, deadline) == detail::Wake::timed_out && full()) {
        throw QueueFull();
      }
    }
    push(std::move(item));
  }
  // Parks while empty; QueueEmpty if `timeout` passes first.
  T get(Duration timeout = forever) {
    const detail::Deadline deadline = detail::deadline_after(timeout);
    while (items_.empty()) {
      if (detail::wait_on(getters_, deadline) == detail::Wake::timed_out && items_.empty()) {
        throw QueueEmpty();
      }
    }
    return pop();
  }
  void put_nowait(T item) {
    if (full()) throw QueueFull();
    push(std::move(item));
  }
  T get_nowait() {
    if (items_.empty()) throw QueueEmpty();
    return pop();
  }

  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t maxsize() const noexcept { return maxsize_; }

 private:
  void push(T item) {
    items_.push_back(std::move(item));
    getters_.notify_one();
  }
  T pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    putters_.notify_one();
    return item;
  }

  std::size_t maxsize_;
  std::deque<T> items_;
  detail::WaitQueue getters_;
  detail::WaitQueue putters_;
};

}  // namespace green

#pragma GCC visibility pop
