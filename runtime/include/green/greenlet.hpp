// Greenlets: spawn, join, kill, sleep, yield — gevent's Greenlet in C++20.
//
// Departures from gevent: a killed greenlet is not successful() (its exception() is the
// GreenletExit that ended it), because a C++ value of type R cannot hold a GreenletExit.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "detail/core.hpp"
#include "detail/greenlet_impl.hpp"
#include "errors.hpp"

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

// Untyped handle: everything but the result. Copies share one greenlet.
class AnyGreenlet {
 public:
  AnyGreenlet() = default;
  explicit AnyGreenlet(std::shared_ptr<detail::GreenletImpl> impl) : impl_(std::move(impl)) {}

  std::uint64_t id() const { return impl_->id(); }
  bool started() const { return impl_->started(); }
  bool ready() const { return impl_->dead(); }
  bool dead() const { return impl_->dead(); }
  bool killed() const { return impl_->killed(); }
  bool successful() const { return impl_->dead() && !impl_->exception(); }
  std::exception_ptr exception() const { return impl_->exception(); }

  // Waits until the greenlet has finished; false if the timeout came first.
  bool join(Duration timeout = forever) const;
  // Throws GreenletExit into the greenlet at its blocking point; with `block`, waits
  // (up to `timeout`) for it to finish. Returns whether it has finished.
  bool kill(bool block = true, Duration timeout = forever) const;

  explicit operator bool() const { return impl_ != nullptr; }
  bool operator==(const AnyGreenlet& o) const { return impl_ == o.impl_; }
  const std::shared_ptr<detail::GreenletImpl>& impl() const { return impl_; }

 protected:
  std::shared_ptr<detail::GreenletImpl> impl_;
};

namespace detail {

template <class R>
class ResultImpl : public GreenletImpl {
 public:
  std::optional<R> value;
};
template <>
class ResultImpl<void> : public GreenletImpl {};

template <class R, class Fn>
class TaskImpl final : public ResultImpl<R> {
 public:
  explicit TaskImpl(Fn fn) : fn_(std::move(fn)) {}
  void run() override {
    if constexpr (std::is_void_v<R>) {
      (*fn_)();
    } else {
      this->value.emplace((*fn_)());
    }
  }
  void release_callable() noexcept override { fn_.reset(); }

 private:
  std::optional<Fn> fn_;
};

}  // namespace detail

template <class R = void>
class Greenlet : public AnyGreenlet {
 public:
  Greenlet() = default;
  explicit Greenlet(std::shared_ptr<detail::ResultImpl<R>> impl) : AnyGreenlet(std::move(impl)) {}

  // Waits for the result: returns the value or rethrows what the greenlet threw.
  // Throws TimeoutError (green/timeout.hpp) if `timeout` passes first.
  R get(Duration timeout = forever) const {
    if (!join(timeout)) throw TimeoutError();
    if (impl_->exception()) std::rethrow_exception(impl_->exception());
    if constexpr (!std::is_void_v<R>) {
      return *static_cast<detail::ResultImpl<R>*>(impl_.get())->value;
    }
  }

  // The value if the greenlet returned one, else empty (not finished, or it threw).
  template <class U = R, class = std::enable_if_t<!std::is_void_v<U>>>
  const std::optional<U>& value() const {
    return static_cast<detail::ResultImpl<R>*>(impl_.get())->value;
  }
};

// Starts f(args...) in a new greenlet; it first runs when the current one blocks or yields.
// Arguments are copied (or moved) into the greenlet, as std::thread does.
template <class F, class... Args>
auto spawn(F&& f, Args&&... args) {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  auto bound = [fn = std::forward<F>(f),
                tup = std::make_tuple(std::forward<Args>(args)...)]() mutable -> R {
    return std::apply(fn, std::move(tup));
  };
  auto impl = std::make_shared<detail::TaskImpl<R, decltype(bound)>>(std::move(bound));
  detail::spawn_impl(impl, 0);
  return Greenlet<R>(std::move(impl));
}

// Waits for every greenlet; false if the timeout passed before all had finished.
bool joinall(std::initializer_list<AnyGreenlet> greenlets, Duration timeout = forever);
template <class Range>
bool joinall(const Range& greenlets, Duration timeout = forever) {
  const detail::Deadline deadline = detail::deadline_after(timeout);
  for (const auto& g : greenlets) {
    const auto left = deadline == detail::kNoDeadline
                          ? forever
                          : Duration(std::max<std::int64_t>(0, deadline - detail::now_ns()));
    if (!AnyGreenlet(g).join(left)) return false;
  }
  return true;
}

// Parks the current greenlet for `d`; sleep(0s) only lets the others run first.
void sleep(Duration d);
// Lets every other ready greenlet run once, then continues.
void yield();
// The running greenlet (the main greenlet included).
AnyGreenlet getcurrent();

}  // namespace green

#pragma GCC visibility pop
