// The fiber layer: the only place Boost.Context appears.
//
// We use Boost.Context's fcontext primitives (make_fcontext, and jump_fcontext's frame
// layout) rather than boost::context::fiber because the scheduler already owns stacks and
// lifetimes; the raw primitives leave nothing to allocate or reference-count on a switch.
// On x86-64 the switch itself is ours (fiber.cpp says why).
#pragma once

#include <cstddef>

#include <boost/context/detail/fcontext.hpp>

#if defined(__x86_64__)
extern "C" boost::context::detail::transfer_t green_fiber_jump(boost::context::detail::fcontext_t to,
                                                               void* data) noexcept;
#endif

namespace green::detail::fiber {

using Context = boost::context::detail::fcontext_t;
using Transfer = boost::context::detail::transfer_t;
using Entry = void (*)(Transfer);

// Prepares a context that runs `entry` on the stack whose highest address is `top`.
inline Context make(void* top, std::size_t size, Entry entry) noexcept {
  return boost::context::detail::make_fcontext(top, size, entry);
}

// Suspends the caller and resumes `to`; `data` reaches the resumed side. Returns what the
// side that later resumes us passed, with that side's suspended context.
inline Transfer jump(Context to, void* data) noexcept {
#if defined(__x86_64__)
  return green_fiber_jump(to, data);
#else
  return boost::context::detail::jump_fcontext(to, data);
#endif
}

}  // namespace green::detail::fiber
