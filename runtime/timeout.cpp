#include "green/timeout.hpp"

#include "hub.hpp"

namespace green {

namespace {
std::uint64_t next_order = 0;  // per process; only compared within one greenlet
}

Timeout::Timeout(Duration d) : owner_(detail::Hub::current().running()), order_(++next_order) {
  if (d == forever) return;
  detail::timer_start(slot_, detail::deadline_after(d), &Timeout::on_fire, this);
}

Timeout::~Timeout() { cancel(); }

void Timeout::cancel() noexcept {
  detail::timer_stop(slot_);
  // Fired while the owner was already woken for another reason: the exception waits for
  // the next blocking point, which may be outside this scope. It is ours to withdraw.
  if (owner_->pending_source() == this) owner_->clear_pending();
}

void Timeout::on_fire(void* self) {
  auto* t = static_cast<Timeout*>(self);
  t->slot_.armed = false;
  t->fired_ = true;
  // One exception can be pending. A kill (no source) or another exception stays; of two
  // Timeouts the enclosing one wins: its exception unwinds through the inner scope too,
  // whereas the inner's would be caught there and the outer's lost.
  if (t->owner_->has_pending()) {
    const void* src = t->owner_->pending_source();
    if (src == nullptr) return;
    if (static_cast<const Timeout*>(src)->order_ < t->order_) return;
  }
  detail::interrupt(t->owner_, std::make_exception_ptr(TimeoutError(t)), t);
}

}  // namespace green
