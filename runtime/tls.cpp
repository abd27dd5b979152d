// Greenlet threads' own TLS (tls.hpp): the probe, and each thread's birth and death.
#include "tls.hpp"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <resolv.h>
// resolv.h names a function p_type, which is also an ELF program header field.
#undef p_type
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "config.hpp"
#include "hub.hpp"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

// pthread.h declares these for C only (C++ has its own pthread_cleanup_push).
extern "C" void __pthread_register_cancel(__pthread_unwind_buf_t* buf);
extern "C" void __pthread_unregister_cancel(__pthread_unwind_buf_t* buf);

namespace green::detail::tls {

bool fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;

namespace {

// tcbhead_t, the head of glibc's struct pthread, as the x86-64 ABI fixes it (GCC reads the
// stack guard at %fs:0x28; split stacks and CET use the words after it).
struct TcbHead {
  void* tcb;            // the thread pointer itself (%fs:0)
  void* dtv;
  void* self;
  int multiple_threads;
  int gscope_flag;
  std::uintptr_t sysinfo;
  std::uintptr_t stack_guard;
  std::uintptr_t pointer_guard;
  unsigned long vgetcpu_cache[2];
  unsigned int feature_1;  // CET state
};
static_assert(offsetof(TcbHead, stack_guard) == 0x28 && offsetof(TcbHead, pointer_guard) == 0x30);
constexpr std::size_t kHeadCopied = offsetof(TcbHead, feature_1) + sizeof(unsigned int);
// malloc's per-thread cache: uint16_t counts[64], then the 64 list heads.
constexpr std::size_t kTcacheBytes = 64 * 2 + 64 * sizeof(void*);

struct Layout {
  const char* failure = nullptr;  // why greenlet threads cannot own TLS
  void* (*allocate)(void*) = nullptr;
  void* (*init)(void*, bool) = nullptr;  // _dl_allocate_tls_init: a DTV kept for reuse
  void (*deallocate)(void*, bool) = nullptr;
  void (*ctype_init)() = nullptr;
  void (*call_tls_dtors)() = nullptr;
  void (*res_iclose)(res_state, bool) = nullptr;
  std::size_t static_size = 0;  // static TLS and TCB, as ld.so sizes them
  std::size_t align = 0;
  std::size_t tcb_size = 0;     // sizeof(struct pthread)
  std::size_t area = 0;         // what a thread takes at its stack's top
  // Offsets from the thread pointer; 0 where the probe found nothing.
  std::ptrdiff_t tid = 0;
  std::ptrdiff_t tcache = 0, arena = 0;
  std::vector<std::ptrdiff_t> lazy_buffers;  // heap buffers libc hangs on a thread
  std::ptrdiff_t resp = 0;       // libc's __resp: points at the thread's resolver state,
  std::ptrdiff_t res = 0;        // which glibc keeps in its TCB
  std::ptrdiff_t rseq_cpu = 0;   // the rseq area's cpu_id (sched_getcpu reads it)
  std::ptrdiff_t hub = 0;        // greenshim's own tls_hub
  std::ptrdiff_t list = 0;       // glibc's link of the thread in its list of threads
  std::ptrdiff_t cleanup_buf = 0;  // glibc's innermost cleanup buffer (cleanup_jmp_buf)
};

Layout layout;

char* at(void* tp, std::ptrdiff_t off) { return static_cast<char*>(tp) + off; }

// Below a thread's static TLS: its link in the list of live greenlet-thread TLS (for
// fork), in its stack's TLS area.
struct Link {
  Link* prev;
  Link* next;
  void* tp;
};
Link* link_of(void* tp) {
  const auto at = reinterpret_cast<std::uintptr_t>(tp) - layout.static_size - sizeof(Link);
  return reinterpret_cast<Link*>(at & ~std::uintptr_t{63});
}

// glibc's dtv_t: entry -1 holds the DTV's length, entry 0 its generation, entry i module
// i's block (to_free: the heap block of a dlopen()ed module, else null).
struct DtvEntry {
  void* val;
  void* to_free;
};

// DTVs of ended threads, for the next ones, as glibc keeps them with its cached stacks: a
// new DTV comes from calloc, which skips malloc's per-thread cache.
struct DtvCache {
  static constexpr std::size_t kMax = 256;
  std::vector<DtvEntry*> free;  // as TcbHead::dtv holds them: entry 0
  DtvCache() { free.reserve(kMax); }
  ~DtvCache() {
    for (DtvEntry* d : free) std::free(d - 1);
  }
};

Link live{&live, &live, nullptr};
std::atomic_flag live_lock = ATOMIC_FLAG_INIT;  // held for a few instructions, by any hub
struct LiveGuard {
  LiveGuard() noexcept {
    while (live_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~LiveGuard() { live_lock.clear(std::memory_order_release); }
};

// --- the probe -------------------------------------------------------------------------

struct Module {
  char* block = nullptr;  // this thread's copy
  std::size_t size = 0;
};

// libc's static TLS block on the calling thread: the module whose block holds errno.
Module libc_block() {
  struct Find {
    char* addr;
    Module found;
  } f{reinterpret_cast<char*>(&errno), {}};
  dl_iterate_phdr([](dl_phdr_info* info, size_t, void* arg) {
    auto* f = static_cast<Find*>(arg);
    if (info->dlpi_tls_data == nullptr) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
      char* b = static_cast<char*>(info->dlpi_tls_data);
      if (f->addr >= b && f->addr < b + info->dlpi_phdr[i].p_memsz) {
        f->found = {b, info->dlpi_phdr[i].p_memsz};
        return 1;
      }
    }
    return 0;
  }, &f);
  return f.found;
}

// The words of a thread's TCB and libc block, to see which ones a libc call sets. Fixed
// arrays: the probe must not call malloc before it watches malloc's first call.
constexpr std::size_t kMaxWords = 2048;
struct Snapshot {
  std::uintptr_t words[kMaxWords];
  std::ptrdiff_t offsets[kMaxWords];  // from the thread pointer
  std::size_t n = 0;
};

void snapshot(Snapshot& s, char* tp, const Module& libc, std::size_t tcb_size) {
  s.n = 0;
  auto add = [&](char* from, std::size_t bytes) {
    for (std::size_t i = 0; i + sizeof(std::uintptr_t) <= bytes && s.n < kMaxWords; i += sizeof(std::uintptr_t)) {
      std::memcpy(&s.words[s.n], from + i, sizeof(std::uintptr_t));
      s.offsets[s.n++] = from + i - tp;
    }
  };
  add(libc.block, libc.size);
  add(tp + sizeof(TcbHead), tcb_size - sizeof(TcbHead));
}

// The words that went from 0 to `value` (any value if 0) between two snapshots.
struct Changes {
  std::ptrdiff_t offsets[8];
  std::size_t n = 0;  // may exceed 8: then only the first 8 are kept
};
Changes newly_set(const Snapshot& before, const Snapshot& after, std::uintptr_t value = 0) {
  Changes c;
  for (std::size_t i = 0; i < before.n; ++i) {
    if (before.words[i] != 0 || after.words[i] == 0) continue;
    if (value != 0 && after.words[i] != value) continue;
    if (c.n < 8) c.offsets[c.n] = before.offsets[i];
    ++c.n;
  }
  return c;
}

struct Probe {
  char* stack_top = nullptr;  // of the stack the probe thread was given
  void* scratch = nullptr;    // room for two Snapshots
  std::ptrdiff_t tid_hint = 0;  // from libc's debugger descriptor, if it has one
  bool glibc_malloc = true;     // malloc is libc's own, not a replacement (jemalloc…)
  const char* creator_tp = nullptr;
  int creator_tid = 0;
  const char* malloc_note = nullptr;  // why malloc's words are not shared with the hub
  const char* failure = nullptr;
  std::size_t tcb_size = 0;
  std::ptrdiff_t tid = 0, tcache = 0, arena = 0;
  std::ptrdiff_t res = 0;  // its resolver state, in its descriptor
  std::ptrdiff_t cleanup_buf = 0;
  std::vector<std::ptrdiff_t> lazy_buffers;
};

// C's pthread_cleanup_push registers a buffer in the thread's descriptor, where glibc's
// pthread_exit starts its forced unwind: the one word that holds it while registered and
// gets the previous one back when unregistered. 0 if no word or several do.
std::ptrdiff_t find_cleanup_buf(const char* tp, std::size_t tcb_size) {
  __pthread_unwind_buf_t buf{};
  const auto mine = reinterpret_cast<std::uintptr_t>(&buf);
  __pthread_register_cancel(&buf);
  std::ptrdiff_t found = 0;
  int matches = 0;
  for (std::size_t off = sizeof(TcbHead); off + sizeof mine <= tcb_size; off += sizeof mine) {
    std::uintptr_t v;
    std::memcpy(&v, tp + off, sizeof v);
    if (v == mine) {
      found = static_cast<std::ptrdiff_t>(off);
      ++matches;
    }
  }
  __pthread_unregister_cancel(&buf);
  if (matches != 1) return 0;
  void* now;
  std::memcpy(&now, tp + found, sizeof now);
  return now == buf.__pad[0] ? found : 0;  // __pad[0]: glibc keeps the previous buffer there
}

// Messages for unknown error and signal numbers are formatted into buffers that libc
// allocates once per thread and frees at its exit: which words of its TLS hold them.
void* note_lazy_buffers(Probe* r, char* tp, const Module& libc) {
  auto* snaps = static_cast<Snapshot*>(r->scratch);
  Snapshot& before = snaps[0];
  Snapshot& after = snaps[1];
  auto note_buffer = [&](const char* (*call)()) {
    snapshot(before, tp, libc, r->tcb_size);
    const char* message = call();
    snapshot(after, tp, libc, r->tcb_size);
    const Changes c = newly_set(before, after, reinterpret_cast<std::uintptr_t>(message));
    if (c.n == 1) r->lazy_buffers.push_back(c.offsets[0]);
  };
  note_buffer([]() -> const char* { return strerror(0x7fffff); });
  note_buffer([]() -> const char* { return strsignal(SIGRTMIN + 1); });
  return nullptr;
}

// Runs on a fresh real thread, on a stack of ours, before anything on it called malloc.
void* probe_thread(void* arg) {
  auto* r = static_cast<Probe*>(arg);
  char* tp = static_cast<char*>(current());
  // glibc puts the struct pthread of a thread on a given stack at that stack's top.
  if (r->stack_top <= tp || static_cast<std::size_t>(r->stack_top - tp) < sizeof(TcbHead) ||
      static_cast<std::size_t>(r->stack_top - tp) > 65536) {
    r->failure = "the thread descriptor is not at the stack's top";
    return nullptr;
  }
  r->tcb_size = static_cast<std::size_t>(r->stack_top - tp);
  // The kernel thread ID: where libc's debugger descriptor says it is, checked; else the
  // one int of the descriptor that equals gettid() here and in the creating thread's.
  const int tid = static_cast<int>(syscall(SYS_gettid));
  auto holds = [](const char* base, std::size_t off, int value) {
    int v;
    std::memcpy(&v, base + off, sizeof v);
    return v == value;
  };
  if (r->tid_hint != 0) {
    if (holds(tp, r->tid_hint, tid)) r->tid = r->tid_hint;
  } else {
    int matches = 0;
    for (std::size_t off = sizeof(TcbHead); off + sizeof(int) <= r->tcb_size; off += sizeof(int)) {
      if (holds(tp, off, tid) && holds(r->creator_tp, off, r->creator_tid)) {
        r->tid = static_cast<std::ptrdiff_t>(off);
        ++matches;
      }
    }
    if (matches != 1) r->tid = 0;
  }
  if (r->tid == 0) {
    r->failure = "the thread ID's place in glibc's thread descriptor not found";
    return nullptr;
  }
  // glibc points a new thread's resolver state (__res_state()) into its descriptor.
  const char* res = reinterpret_cast<const char*>(__res_state());
  if (res >= tp && res + sizeof(struct __res_state) <= r->stack_top) r->res = res - tp;
  r->cleanup_buf = find_cleanup_buf(tp, r->tcb_size);
  const Module libc = libc_block();
  if (libc.block == nullptr) {
    r->failure = "libc's TLS block not found";
    return nullptr;
  }
  // glibc's malloc sets two words on a thread's first call: its cache, which points at 640
  // zero bytes, and its arena. One word: the cache is off (tunables). A replacement
  // allocator keeps its own per-thread state, in the thread's TLS: nothing to learn.
  if (!r->glibc_malloc) return note_lazy_buffers(r, tp, libc);
  auto* snaps = static_cast<Snapshot*>(r->scratch);
  Snapshot& before = snaps[0];
  Snapshot& after = snaps[1];
  snapshot(before, tp, libc, r->tcb_size);
  void* volatile p = std::malloc(1);  // volatile: the compiler would drop a malloc/free pair
  snapshot(after, tp, libc, r->tcb_size);
  const Changes set = newly_set(before, after);
  if (set.n == 2) {
    for (int i = 0; i < 2; ++i) {
      std::uintptr_t v;
      std::memcpy(&v, tp + set.offsets[i], sizeof v);
      const auto* bytes = reinterpret_cast<const unsigned char*>(v);
      bool zero = true;  // nothing is cached yet: p is not freed
      for (std::size_t k = 0; k < kTcacheBytes && zero; ++k) zero = bytes[k] == 0;
      if (zero && r->tcache == 0) {
        r->tcache = set.offsets[i];
        r->arena = set.offsets[1 - i];
      }
    }
    if (r->tcache == 0) r->malloc_note = "malloc's per-thread cache not told from its arena";
  } else if (set.n == 1) {
    r->arena = set.offsets[0];
  } else if (set.n > 2) {
    r->malloc_note = "malloc's first call set more than its cache and arena";
  }
  std::free(p);
  return note_lazy_buffers(r, tp, libc);
}

// Runs the probe on a real thread of its own, with the hooks off and every signal blocked.
Probe probe(std::size_t static_size, std::ptrdiff_t tid_hint) {
  Probe r;
  r.tid_hint = tid_hint;
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  r.glibc_malloc = libc != nullptr && dlsym(libc, "malloc") == dlsym(RTLD_DEFAULT, "malloc");
  r.creator_tp = static_cast<const char*>(current());
  r.creator_tid = static_cast<int>(syscall(SYS_gettid));
  // Room for the thread's static TLS, which glibc takes from the stack it is given.
  const std::size_t kStack = ((static_size + 65536) * 2 + 4095) & ~std::size_t{4095};
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) {
    r.failure = "cannot map the probe's stack";
    return r;
  }
  r.stack_top = static_cast<char*>(stack) + kStack;
  auto snaps = std::make_unique<Snapshot[]>(2);
  r.scratch = snaps.get();
  NoHooks off;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, stack, kStack);
  pthread_t t;
  if (pthread_create(&t, &attr, probe_thread, &r) != 0) {
    r.failure = "cannot start the probe thread";
  } else {
    pthread_join(t, nullptr);
  }
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  return r;
}

template <class F>
F symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

const char* learn() {
  Layout& L = layout;
  L.allocate = symbol<void* (*)(void*)>("_dl_allocate_tls");
  L.deallocate = symbol<void (*)(void*, bool)>("_dl_deallocate_tls");
  L.init = symbol<void* (*)(void*, bool)>("_dl_allocate_tls_init");
  auto static_info = symbol<void (*)(std::size_t*, std::size_t*)>("_dl_get_tls_static_info");
  L.ctype_init = symbol<void (*)()>("__ctype_init");
  L.call_tls_dtors = symbol<void (*)()>("__call_tls_dtors");
  L.res_iclose = symbol<void (*)(res_state, bool)>("__res_iclose");
  if (!L.allocate || !L.deallocate || !static_info || !L.ctype_init || !L.call_tls_dtors) {
    return "ld.so or libc lacks glibc's TLS entry points";
  }
  static_info(&L.static_size, &L.align);
  if (L.align < alignof(std::max_align_t)) L.align = alignof(std::max_align_t);
  // libthread_db's descriptors of struct pthread fields: {bits, count, offset}.
  const auto* tid_desc = symbol<const std::uint32_t*>("_thread_db_pthread_tid");
  const auto* list_desc = symbol<const std::uint32_t*>("_thread_db_pthread_list");
  const auto* pthread_size = symbol<const std::uint32_t*>("_thread_db_sizeof_pthread");
  Probe r = probe(L.static_size, tid_desc != nullptr && tid_desc[0] == 32 ? tid_desc[2] : 0);
  if (r.failure != nullptr) return r.failure;
  if (r.tcb_size > L.static_size) return "the thread descriptor is larger than static TLS";
  if (pthread_size != nullptr && *pthread_size > r.tcb_size) return "glibc's thread descriptor is larger than measured";
  if (list_desc != nullptr && list_desc[0] == 2 * 8 * sizeof(void*)) L.list = list_desc[2];
  if (r.malloc_note != nullptr) {
    std::fprintf(stderr, "greenshim: %s; each greenlet thread keeps its own (not freed at its exit)\n", r.malloc_note);
  }
  L.tcb_size = r.tcb_size;
  L.tid = r.tid;
  L.tcache = r.tcache;
  L.arena = r.arena;
  L.lazy_buffers = std::move(r.lazy_buffers);
  L.cleanup_buf = r.cleanup_buf;
  char* tp = static_cast<char*>(current());
  L.res = r.res;
  void* resp = dlsym(RTLD_DEFAULT, "__resp");
  if (resp != nullptr && L.res != 0) L.resp = static_cast<char*>(resp) - tp;
  // The rseq area's offset is valid even where rseq is off (its cpu_id must still not read 0).
  if (auto* off = symbol<const std::ptrdiff_t*>("__rseq_offset")) L.rseq_cpu = *off + 4;
  L.hub = reinterpret_cast<char*>(&tls_hub) - tp;
  // From the top: the TCB and the slack of aligning it, every static block (at most ld.so's
  // size, which counts the TCB too), its Link and the slack of aligning it.
  L.area = L.tcb_size + L.align + L.static_size + sizeof(Link) + 64;
  return nullptr;
}

}  // namespace

bool available() noexcept {
  static const bool ok = [] {
    if (config().fsbase_syscall) fsgsbase = false;
    layout.failure = learn();
    if (layout.failure != nullptr) {
      std::fprintf(stderr, "greenshim: greenlet threads share their hub's TLS (%s)\n", layout.failure);
    }
    return layout.failure == nullptr;
  }();
  return ok;
}

std::size_t area_size() noexcept { return layout.area; }

void* create(void* top, Hub* hub) noexcept {
  const Layout& L = layout;
  const auto top_addr = reinterpret_cast<std::uintptr_t>(top);
  void* tp = reinterpret_cast<void*>((top_addr - L.tcb_size) & ~(L.align - 1));
  // A pooled stack holds the last thread's: the descriptor starts zeroed, as glibc's does.
  std::memset(tp, 0, L.tcb_size);
  char* here = static_cast<char*>(current());
  // Header words every thread of the process shares: the guards, CET, whether threads exist.
  std::memcpy(at(tp, offsetof(TcbHead, multiple_threads)), here + offsetof(TcbHead, multiple_threads),
              kHeadCopied - offsetof(TcbHead, multiple_threads));
  auto* head = static_cast<TcbHead*>(tp);
  head->tcb = tp;
  head->self = tp;
  head->gscope_flag = 0;
  // The static blocks from their images (.tdata copied, .tbss zeroed), and a DTV: an ended
  // thread's if the hub kept one (ld.so grows it if modules were loaded since).
  DtvCache& dtvs = hub->local<DtvCache>();
  if (!dtvs.free.empty()) {
    head->dtv = dtvs.free.back();
    dtvs.free.pop_back();
    L.init(tp, true);
  } else if (L.allocate(tp) == nullptr) {
    return nullptr;
  }
  const int tid = hub->os_tid();  // glibc's locks name their owner by it
  std::memcpy(at(tp, L.tid), &tid, sizeof tid);
  if (L.rseq_cpu != 0) {
    const std::int32_t unregistered = -2;  // sched_getcpu then asks the kernel
    std::memcpy(at(tp, L.rseq_cpu), &unregistered, sizeof unregistered);
  }
  // The hub's malloc cache and arena (see tls.hpp), and greenshim's own hub pointer.
  char* hub_tp = static_cast<char*>(hub->thread_pointer());
  if (L.tcache != 0) std::memcpy(at(tp, L.tcache), hub_tp + L.tcache, sizeof(void*));
  if (L.arena != 0) std::memcpy(at(tp, L.arena), hub_tp + L.arena, sizeof(void*));
  if (L.list != 0) {
    // An empty list (a link to itself): glibc code that unlinks THREAD_SELF finds nothing.
    void* self_link[2] = {at(tp, L.list), at(tp, L.list)};
    std::memcpy(at(tp, L.list), self_link, sizeof self_link);
  }
  std::memcpy(at(tp, L.hub), &hub, sizeof hub);
  if (L.resp != 0) {
    // Its own resolver state, zeroed with the TCB (res_init runs on first use).
    char* state = at(tp, L.res);
    std::memcpy(at(tp, L.resp), &state, sizeof state);
  }
  Link* link = link_of(tp);
  link->tp = tp;
  LiveGuard guard;
  link->prev = &live;
  link->next = live.next;
  live.next->prev = link;
  live.next = link;
  return tp;
}

void thread_start() noexcept { layout.ctype_init(); }

void run_thread_dtors() { layout.call_tls_dtors(); }

void** cleanup_buffer_slot() noexcept {
  if (layout.cleanup_buf == 0) return nullptr;
  return reinterpret_cast<void**>(at(current(), layout.cleanup_buf));
}

void thread_end() noexcept {
  const Layout& L = layout;
  char* tp = static_cast<char*>(current());
  for (std::ptrdiff_t off : L.lazy_buffers) {
    void* p;
    std::memcpy(&p, tp + off, sizeof p);
    std::free(p);
    std::memset(tp + off, 0, sizeof p);
  }
  if (L.resp != 0 && L.res_iclose != nullptr) {
    auto* state = reinterpret_cast<res_state>(tp + L.res);
    if (state->options & RES_INIT) L.res_iclose(state, true);
  }
}

void destroy(void* tp, Hub* hub) noexcept {
  {
    Link* link = link_of(tp);
    LiveGuard guard;
    link->prev->next = link->next;
    link->next->prev = link->prev;
  }
  // The cache and arena are the hub's: not this thread's to give back.
  if (layout.tcache != 0) std::memset(at(tp, layout.tcache), 0, sizeof(void*));
  if (layout.arena != 0) std::memset(at(tp, layout.arena), 0, sizeof(void*));
  DtvCache* dtvs = hub->find_local<DtvCache>();
  if (layout.init == nullptr || dtvs == nullptr || dtvs->free.size() == DtvCache::kMax) {
    layout.deallocate(tp, false);
    return;
  }
  // What _dl_deallocate_tls frees but the DTV itself (glibc's get_cached_stack does the same).
  auto* dtv = static_cast<DtvEntry*>(static_cast<TcbHead*>(tp)->dtv);
  const auto length = reinterpret_cast<std::uintptr_t>(dtv[-1].val);
  for (std::uintptr_t i = 1; i <= length; ++i) {
    if (dtv[i].to_free != nullptr) std::free(dtv[i].to_free);
  }
  std::memset(dtv, 0, (length + 1) * sizeof(DtvEntry));
  dtvs->free.push_back(dtv);
}

void after_fork(void* hub_tp) noexcept {
  if (layout.tid == 0 || layout.failure != nullptr || layout.tcb_size == 0) return;
  live_lock.clear();  // another OS thread may have held it at fork()
  const int tid = static_cast<int>(syscall(SYS_gettid));
  std::memcpy(at(hub_tp, layout.tid), &tid, sizeof tid);
  for (Link* l = live.next; l != &live; l = l->next) std::memcpy(at(l->tp, layout.tid), &tid, sizeof tid);
}

}  // namespace green::detail::tls
