// Greenlet-local storage slots, owned by their greenlet and destroyed when it ends.
#pragma once

#include <cstdint>
#include <vector>

#include "green/detail/greenlet_impl.hpp"

namespace green::detail {

struct LocalSlot {
  std::uint64_t key;
  void* value;
  void (*destroy)(void*);
};

struct LocalSlots {
  std::vector<LocalSlot> slots;
};

// Runs the destructors of g's locals (most recent first) and frees the slots.
void destroy_locals(GreenletImpl* g) noexcept;

}  // namespace green::detail
