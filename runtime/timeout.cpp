#include "green/timeout.hpp"

#include "hub.hpp"

namespace green {

Timeout::Timeout(Duration d) : owner_(detail::Hub::current().running()) {
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
  detail::interrupt(t->owner_, std::make_exception_ptr(TimeoutError(t)), t);
}

}  // namespace green
