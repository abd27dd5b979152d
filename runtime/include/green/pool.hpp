// Group and Pool (gevent.pool). A Group tracks greenlets so they can be joined or killed
// together; a Pool is a Group with a bound: its spawn() parks while `size` members run.
// map() returns results in input order; imap_unordered() yields them as they finish.
#pragma once

#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "greenlet.hpp"
#include "queue.hpp"
#include "semaphore.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

template <class R>
class UnorderedResults;

class Group {
 public:
  Group() = default;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  virtual ~Group() = default;

  template <class F, class... Args>
  auto spawn(F&& f, Args&&... args) {
    auto slot = acquire_slot();
    auto g = green::spawn(
        [slot = std::move(slot), fn = std::forward<F>(f)](auto&&... a) mutable -> decltype(auto) {
          return fn(std::forward<decltype(a)>(a)...);
        },
        std::forward<Args>(args)...);
    add(g);
    return g;
  }

  void add(const AnyGreenlet& g);
  void discard(const AnyGreenlet& g);
  bool contains(const AnyGreenlet& g) const;
  // Members still running.
  std::size_t size() const;
  // Waits for every member (including ones added while waiting); false on timeout.
  bool join(Duration timeout = forever);
  // Kills every member; with `block`, waits for them to finish.
  void kill(bool block = true, Duration timeout = forever);

  // f(x) for each x of `inputs`, run concurrently (bounded for a Pool); results in input
  // order. The first exception (in input order) is rethrown after all have finished.
  template <class F, class Range>
  auto map(F f, const Range& inputs) {
    using In = std::decay_t<decltype(*std::begin(inputs))>;
    using R = std::invoke_result_t<F&, const In&>;
    std::vector<Greenlet<R>> gs;
    for (const auto& x : inputs) gs.push_back(spawn(f, x));
    joinall(gs);
    std::vector<R> out;
    out.reserve(gs.size());
    for (auto& g : gs) out.push_back(g.get());
    return out;
  }

  // f(x) for each x of `inputs`; iterate the result to receive values as they finish.
  template <class F, class Range>
  auto imap_unordered(F f, const Range& inputs);

 protected:
  // Released when the member's callable is destroyed: normal end, exception or kill
  // before it ever ran.
  struct Slot {
    Semaphore* sem = nullptr;
    Slot() = default;
    explicit Slot(Semaphore* s) : sem(s) {}
    Slot(Slot&& o) noexcept : sem(std::exchange(o.sem, nullptr)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (sem != nullptr) sem->release();
    }
  };
  virtual Slot acquire_slot() { return Slot(); }

 private:
  void prune() const;
  mutable std::vector<AnyGreenlet> members_;
};

class Pool : public Group {
 public:
  explicit Pool(std::size_t size) : size_(size), slots_(size) {}
  std::size_t capacity() const noexcept { return size_; }
  std::size_t free_count() const noexcept { return slots_.value(); }
  bool full() const noexcept { return slots_.value() == 0; }

 protected:
  Slot acquire_slot() override {
    slots_.acquire();
    return Slot(&slots_);
  }

 private:
  std::size_t size_;
  Semaphore slots_;
};

// The values of an imap_unordered(), in the order they finished. Input iteration only;
// dereferencing the item of a member that threw (or was killed) rethrows its exception.
template <class R>
class UnorderedResults {
  using Item = std::variant<R, std::exception_ptr>;

 public:
  struct State {
    Queue<Item> done;
    std::size_t expected = 0;
    std::size_t taken = 0;
  };

  explicit UnorderedResults(std::shared_ptr<State> s) : state_(std::move(s)) {}

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using pointer = const R*;
    using reference = const R&;

    iterator() = default;
    explicit iterator(State* s) : s_(s) { advance(); }
    // A member that failed (or was killed) is an item too: reading it rethrows.
    const R& operator*() const {
      if (error_) std::rethrow_exception(error_);
      return *cur_;
    }
    const R* operator->() const { return &**this; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    bool operator==(const iterator& o) const { return s_ == o.s_; }

   private:
    void advance() {
      if (s_ == nullptr) return;
      if (s_->taken == s_->expected) {
        s_ = nullptr;
        return;
      }
      ++s_->taken;
      Item it = s_->done.get();
      if (auto* e = std::get_if<std::exception_ptr>(&it)) {
        error_ = *e;
        cur_.reset();
      } else {
        error_ = nullptr;
        cur_.emplace(std::move(std::get<R>(it)));
      }
    }
    State* s_ = nullptr;
    std::optional<R> cur_;
    std::exception_ptr error_;
  };

  iterator begin() { return iterator(state_.get()); }
  iterator end() { return iterator(); }
  // Drains what is left into a vector.
  std::vector<R> to_vector() {
    std::vector<R> v;
    for (const R& r : *this) v.push_back(r);
    return v;
  }

 private:
  std::shared_ptr<State> state_;
};

template <class F, class Range>
auto Group::imap_unordered(F f, const Range& inputs) {
  using In = std::decay_t<decltype(*std::begin(inputs))>;
  using R = std::invoke_result_t<F&, const In&>;
  using State = typename UnorderedResults<R>::State;
  auto state = std::make_shared<State>();
  std::vector<In> items(std::begin(inputs), std::end(inputs));
  state->expected = items.size();
  // A feeder spawns the tasks so that the caller starts receiving results while a bounded
  // pool is still full.
  // Each task delivers exactly one item: its value, its exception, or — killed, even
  // before it ran — a GreenletExit, delivered when its callable is destroyed.
  struct Delivery {
    std::shared_ptr<State> state;
    bool pending = true;
    explicit Delivery(std::shared_ptr<State> s) : state(std::move(s)) {}
    Delivery(Delivery&& o) noexcept : state(std::move(o.state)), pending(std::exchange(o.pending, false)) {}
    Delivery& operator=(Delivery&&) = delete;
    ~Delivery() {
      if (pending && state) state->done.put_nowait(std::make_exception_ptr(GreenletExit{}));
    }
  };
  green::spawn([this, f, state, items = std::move(items)]() mutable {
    for (const In& x : items) {
      spawn([f, d = Delivery(state)](const In& v) mutable {
        d.pending = false;
        try {
          d.state->done.put_nowait(f(v));  // unbounded: never waits
        } catch (const GreenletExit&) {
          d.state->done.put_nowait(std::current_exception());
          throw;  // killed while running: the item says so, and the greenlet still ends
        } catch (...) {
          d.state->done.put_nowait(std::current_exception());
        }
      }, x);
    }
  });
  return UnorderedResults<R>(std::move(state));
}

}  // namespace green

#pragma GCC visibility pop
