// Greenlet lifecycle as the API sees it: spawn, join, kill, sleep, yield.
#include <atomic>
#include <ctime>

#include "green/greenlet.hpp"
#include "hub.hpp"
#include "local_slots.hpp"

namespace green {
namespace detail {

namespace {
std::atomic<std::uint64_t> next_id{0};
}

GreenletImpl::GreenletImpl() noexcept : id_(next_id.fetch_add(1, std::memory_order_relaxed)) {}

GreenletImpl::~GreenletImpl() { destroy_locals(this); }

void GreenletImpl::raise_pending() { std::rethrow_exception(take_pending()); }

std::int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Deadline deadline_after(Duration d) noexcept {
  if (d == forever) return kNoDeadline;
  const std::int64_t now = now_ns();
  const std::int64_t n = d.count() < 0 ? 0 : d.count();
  return n > kNoDeadline - now ? kNoDeadline - 1 : now + n;
}

GreenletImpl* current_greenlet() noexcept { return Hub::current().running(); }

void spawn_impl(std::shared_ptr<GreenletImpl> g, std::size_t stack_size) {
  Hub::current().spawn(std::move(g), stack_size);
}

void interrupt(GreenletImpl* g, std::exception_ptr exc, const void* source, std::shared_ptr<GreenletImpl> keep) {
  Hub* home = g->hub();
  if (home != nullptr && home != tls_hub && keep) {
    home->post_interrupt(std::move(keep), std::move(exc), source);  // applied on its thread
    return;
  }
  (home != nullptr ? *home : Hub::current()).interrupt(g, std::move(exc), source);
}

void kill_impl(const std::shared_ptr<GreenletImpl>& g) {
  if (g->dead()) return;
  const Hub* here = Hub::current_if_exists();
  if (here != nullptr && g.get() == here->running()) throw GreenletExit{};
  interrupt(g.get(), std::make_exception_ptr(GreenletExit{}), nullptr, g);
}

}  // namespace detail

bool AnyGreenlet::join(Duration timeout) const {
  const detail::Deadline deadline = detail::deadline_after(timeout);
  while (!impl_->dead()) {
    if (detail::wait_on(impl_->joiners(), deadline) == detail::Wake::timed_out) {
      return impl_->dead();
    }
  }
  return true;
}

bool AnyGreenlet::kill(bool block, Duration timeout) const {
  detail::kill_impl(impl_);
  return block ? join(timeout) : impl_->dead();
}

bool joinall(std::initializer_list<AnyGreenlet> greenlets, Duration timeout) {
  return joinall<std::initializer_list<AnyGreenlet>>(greenlets, timeout);
}

void sleep(Duration d) {
  auto& hub = detail::Hub::current();
  if (d <= Duration::zero()) return yield();
  const detail::Deadline deadline = detail::deadline_after(d);
  for (;;) {
    const detail::Wake w = hub.park(deadline);
    if (w == detail::Wake::timed_out) return;
    detail::raise_for(w);
  }
}

void yield() {
  auto& hub = detail::Hub::current();
  detail::GreenletImpl* self = hub.running();
  if (__builtin_expect(self->has_pending(), 0)) self->raise_pending();
  hub.yield();
  if (__builtin_expect(self->has_pending(), 0)) self->raise_pending();
}

AnyGreenlet getcurrent() {
  auto& hub = detail::Hub::current();
  detail::GreenletImpl* g = hub.running();
  if (g == hub.main_greenlet()) return AnyGreenlet(hub.main_handle());
  return AnyGreenlet(g->shared());
}

}  // namespace green
