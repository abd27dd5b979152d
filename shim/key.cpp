// pthread keys, per greenlet: glibc keeps key values in the thread's struct pthread, which
// a greenlet thread has of its own but an API greenlet shares with its hub, and glibc runs
// their destructors only in its own thread exit. So under the shim keys are greenshim's.
//
// Our keys are numbered from kKeyBase up, above glibc's PTHREAD_KEYS_MAX, so a key that
// glibc made before the hooks were active still goes to glibc. There are PTHREAD_KEYS_MAX
// of them, as glibc has: the next pthread_key_create fails with EAGAIN. Values live with the
// greenlet (a greenlet-local slot) or, on a real thread, in a thread_local table; the
// destructors run when the greenlet or thread ends, up to PTHREAD_DESTRUCTOR_ITERATIONS
// rounds, as POSIX says.
#include <limits.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "green/local.hpp"
#include "thread.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

constexpr pthread_key_t kKeyBase = 1u << 20;
constexpr pthread_key_t kMaxKeys = PTHREAD_KEYS_MAX;

struct KeyInfo {
  std::atomic<unsigned> seq{0};  // odd = in use
  std::atomic<void (*)(void*)> destructor{nullptr};
};
KeyInfo keys[kMaxKeys];
std::mutex keys_mu;

struct Value {
  unsigned seq = 0;
  void* value = nullptr;
};

struct KeyValues {
  std::vector<Value> values;
  bool finished = false;  // its thread's exit ran the destructors: no second series of rounds

  void run_destructors() {
    for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; ++round) {
      bool any = false;
      for (size_t i = 0; i < values.size(); ++i) {
        Value& v = values[i];
        if (v.value == nullptr) continue;
        const unsigned seq = keys[i].seq.load(std::memory_order_acquire);
        void (*dtor)(void*) = keys[i].destructor.load(std::memory_order_acquire);
        void* p = v.value;
        v.value = nullptr;
        if (seq == v.seq && (seq & 1) && dtor != nullptr) {
          dtor(p);
          any = true;
        }
      }
      if (!any) return;
    }
  }
};

// The greenlet-local slot key under which a greenlet keeps its KeyValues.
const std::uint64_t kSlotKey = gd::local_new_key();

struct RealThreadValues {
  KeyValues kv;
  ~RealThreadValues() { kv.run_destructors(); }
};
thread_local RealThreadValues real_thread_values;

// The calling context's values, or nullptr if it is a greenlet that never set one.
KeyValues* existing_values() {
  gd::Hub* hub = gd::Hub::current_if_exists();
  if (hub == nullptr || hub->in_hub_fiber()) return &real_thread_values.kv;
  return static_cast<KeyValues*>(gd::local_find(kSlotKey));
}

KeyValues& context_values() {
  if (KeyValues* kv = existing_values()) return *kv;
  auto* kv = new KeyValues;
  gd::local_store(kSlotKey, kv, [](void* p) {
    auto* values = static_cast<KeyValues*>(p);
    // At hub teardown (process exit) glibc would not run key destructors either.
    if (gd::Hub::current_if_exists() != nullptr && !values->finished) values->run_destructors();
    delete values;
  });
  return *kv;
}

bool ours(pthread_key_t k) { return k >= kKeyBase && k < kKeyBase + kMaxKeys; }

}  // namespace

namespace green::shim {
void run_key_destructors() {
  if (KeyValues* kv = existing_values()) {
    kv->run_destructors();
    kv->finished = true;
  }
}
}  // namespace green::shim

GREEN_HOOK(int, pthread_key_create, (pthread_key_t* key, void (*dtor)(void*))) {
  GREEN_BOOKKEEPING();
  if (!hooks_active) return REAL(pthread_key_create)(key, dtor);
  gd::InternalLock<std::mutex> lock(keys_mu);
  for (pthread_key_t i = 0; i < kMaxKeys; ++i) {
    unsigned seq = keys[i].seq.load(std::memory_order_relaxed);
    if (seq & 1) continue;
    keys[i].destructor.store(dtor, std::memory_order_relaxed);
    keys[i].seq.store(seq + 1, std::memory_order_release);
    *key = kKeyBase + i;
    return 0;
  }
  return EAGAIN;
}

GREEN_HOOK(int, pthread_key_delete, (pthread_key_t key)) {
  GREEN_BOOKKEEPING();
  if (!ours(key)) return REAL(pthread_key_delete)(key);
  gd::InternalLock<std::mutex> lock(keys_mu);
  KeyInfo& k = keys[key - kKeyBase];
  const unsigned seq = k.seq.load(std::memory_order_relaxed);
  if (!(seq & 1)) return EINVAL;
  k.seq.store(seq + 1, std::memory_order_release);  // stale values no longer match
  return 0;
}

GREEN_HOOK(void*, pthread_getspecific, (pthread_key_t key)) {
  GREEN_BOOKKEEPING();
  if (!ours(key)) return REAL(pthread_getspecific)(key);
  const size_t i = key - kKeyBase;
  const KeyValues* kv = existing_values();
  if (kv == nullptr || i >= kv->values.size()) return nullptr;
  const Value& v = kv->values[i];
  return v.seq == keys[i].seq.load(std::memory_order_acquire) ? v.value : nullptr;
}

GREEN_HOOK(int, pthread_setspecific, (pthread_key_t key, const void* value)) {
  GREEN_BOOKKEEPING();
  if (!ours(key)) return REAL(pthread_setspecific)(key, value);
  const size_t i = key - kKeyBase;
  const unsigned seq = keys[i].seq.load(std::memory_order_acquire);
  if (!(seq & 1)) return EINVAL;
  try {
    KeyValues& kv = context_values();
    if (i >= kv.values.size()) kv.values.resize(i + 1);
    kv.values[i] = Value{seq, const_cast<void*>(value)};
  } catch (...) {
    return ENOMEM;
  }
  return 0;
}
