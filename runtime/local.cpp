// Greenlet-local storage: each greenlet keeps a small vector of (key, value) slots.
#include "green/local.hpp"

#include <atomic>

#include "hub.hpp"
#include "local_slots.hpp"

namespace green::detail {

namespace {
std::atomic<std::uint64_t> next_key{1};
}

std::uint64_t local_new_key() noexcept { return next_key.fetch_add(1, std::memory_order_relaxed); }

LocalSlots& local_slots() {
  GreenletImpl* g = Hub::current().running();
  if (g->locals() == nullptr) g->locals() = new LocalSlots;
  return *g->locals();
}

void* local_find(std::uint64_t key) noexcept {
  GreenletImpl* g = Hub::current().running();
  if (g->locals() == nullptr) return nullptr;
  for (const LocalSlot& s : g->locals()->slots) {
    if (s.key == key) return s.value;
  }
  return nullptr;
}

void local_store(std::uint64_t key, void* value, void (*destroy)(void*)) {
  local_slots().slots.push_back({key, value, destroy});
}

void destroy_locals(GreenletImpl* g) noexcept {
  LocalSlots* slots = g->locals();
  if (slots == nullptr) return;
  // A destructor may itself touch its own or another local (a pthread key destructor may
  // set its value again): each slot stays findable while its destructor runs, and is
  // removed afterwards by key, since the destructor may have added slots behind it.
  while (!slots->slots.empty()) {
    const LocalSlot s = slots->slots.back();
    s.destroy(s.value);
    for (auto it = slots->slots.end(); it != slots->slots.begin();) {
      --it;
      if (it->key == s.key && it->value == s.value) {
        slots->slots.erase(it);
        break;
      }
    }
  }
  g->locals() = nullptr;
  delete slots;
}

}  // namespace green::detail
