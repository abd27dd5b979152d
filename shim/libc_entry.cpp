// glibc's own calls reach the hooks. Inside glibc, stdio reads a socket through __read,
// system() and pclose() wait through __waitpid, fclose() closes through __close_nocancel,
// and a contended FILE lock sleeps in __lll_lock_wait_private: internal aliases that share
// the exported functions' code but never pass through a PLT that LD_PRELOAD could
// interpose. So the code itself is rerouted, once, before the hooks go live: the first
// instructions of each function below become a jump to its hook (through a stub page
// within reach of a 32-bit jump), and what they did moves to a trampoline, which is then
// REAL(name): the hook's own call of the real function runs the original code.
//
// A function is left alone, and GREEN_VERBOSE=1 says why, when its entry holds an
// instruction x86_code.cpp does not know, when its code branches back into the moved
// bytes, or when RTLD_NEXT finds another library's definition before glibc's (rerouting
// glibc's would loop through it).
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "config.hpp"
#include "hook.hpp"
#include "libc_entry.hpp"
#include "x86_code.hpp"

namespace green::shim {

int (*real_close_nocancel)(int) = nullptr;

namespace {

struct Entry {
  const char* name;
  const char* version;  // nullptr: the default version
  void* hook;
  void** real;          // where REAL finds the moved code; nullptr: the hook replaces it whole
  bool rerouted = false;
};

#define SLOT(name) reinterpret_cast<void**>(&real_table.name)
#define HOOK(name) reinterpret_cast<void*>(&::name)

extern "C" void green_lll_lock_wait_private(int* futex);
extern "C" int green_close_nocancel(int fd);

// The calls glibc makes internally that can block on a socket, pipe, terminal or child.
// Built at first use: the library constructor that patches runs before this file's
// static initialisers would (the addresses are not constants).
Entry* table(std::size_t& n) {
  static Entry entries[] = {
    {"read", nullptr, HOOK(read), SLOT(read)},
    {"write", nullptr, HOOK(write), SLOT(write)},
    {"readv", nullptr, HOOK(readv), SLOT(readv)},
    {"writev", nullptr, HOOK(writev), SLOT(writev)},
    {"recv", nullptr, HOOK(recv), SLOT(recv)},
    {"recvfrom", nullptr, HOOK(recvfrom), SLOT(recvfrom)},
    {"recvmsg", nullptr, HOOK(recvmsg), SLOT(recvmsg)},
    {"send", nullptr, HOOK(send), SLOT(send)},
    {"sendto", nullptr, HOOK(sendto), SLOT(sendto)},
    {"sendmsg", nullptr, HOOK(sendmsg), SLOT(sendmsg)},
    {"connect", nullptr, HOOK(connect), SLOT(connect)},
    {"accept", nullptr, HOOK(accept), SLOT(accept)},
    {"accept4", nullptr, HOOK(accept4), SLOT(accept4)},
    {"poll", nullptr, HOOK(poll), SLOT(poll)},
    {"close", nullptr, HOOK(close), SLOT(close)},
    {"waitpid", nullptr, HOOK(waitpid), SLOT(waitpid)},
    {"posix_spawn", "GLIBC_2.15", HOOK(posix_spawn), SLOT(posix_spawn)},
    {"posix_spawnp", "GLIBC_2.15", HOOK(posix_spawnp), SLOT(posix_spawnp)},
    {"__close_nocancel", "GLIBC_PRIVATE", reinterpret_cast<void*>(&green_close_nocancel),
     reinterpret_cast<void**>(&real_close_nocancel)},
    {"__lll_lock_wait_private", "GLIBC_PRIVATE", reinterpret_cast<void*>(&green_lll_lock_wait_private), nullptr},
  };
  n = sizeof entries / sizeof entries[0];
  return entries;
}

constexpr std::size_t kJump = 5;  // e9 rel32
constexpr std::size_t kTrampolineRoom = 64;

bool fits32(std::int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

// One page within ±2 GiB of glibc's code: every stub and trampoline lives there.
std::uint8_t* near_page(std::uintptr_t libc_base) {
  const long page = sysconf(_SC_PAGESIZE);
  for (std::uintptr_t step = 1; step <= 256; ++step) {
    const std::uintptr_t hint = (libc_base - step * (std::uintptr_t{1} << 20)) & ~static_cast<std::uintptr_t>(page - 1);
    void* p = mmap(reinterpret_cast<void*>(hint), static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) continue;
    const auto got = reinterpret_cast<std::uintptr_t>(p);
    if (fits32(static_cast<std::int64_t>(got) - static_cast<std::int64_t>(libc_base)) &&
        fits32(static_cast<std::int64_t>(got) - static_cast<std::int64_t>(libc_base + (std::uintptr_t{1} << 30)))) {
      return static_cast<std::uint8_t*>(p);
    }
    munmap(p, static_cast<std::size_t>(page));
  }
  return nullptr;
}

// Writes `bytes` over code at `at`, which other threads are not running yet (the library
// constructor, or green::patch_all(), which must come before the program's threads).
bool write_code(std::uint8_t* at, const std::uint8_t* bytes, std::size_t n) {
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(at) & ~(page - 1);
  const std::uintptr_t hi = (reinterpret_cast<std::uintptr_t>(at) + n + page - 1) & ~(page - 1);
  void* p = reinterpret_cast<void*>(lo);
  if (mprotect(p, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return false;
  std::memcpy(at, bytes, n);
  mprotect(p, hi - lo, PROT_READ | PROT_EXEC);
  __builtin___clear_cache(reinterpret_cast<char*>(at), reinterpret_cast<char*>(at + n));
  return true;
}

struct Patcher {
  std::uint8_t* page;
  std::size_t used = 0;
  std::size_t size;
  char skipped[512] = "";
  int done = 0;

  void skip(const char* name, const char* why) {
    const std::size_t len = std::strlen(skipped);
    std::snprintf(skipped + len, sizeof skipped - len, "%s%s (%s)", len ? ", " : "", name, why);
  }

  std::uint8_t* take(std::size_t n) {
    if (size - used < n) return nullptr;
    std::uint8_t* p = page + used;
    used += n;
    return p;
  }

  void patch(void* libc, Entry& e) {
    void* sym = e.version ? dlvsym(libc, e.name, e.version) : dlsym(libc, e.name);
    if (sym == nullptr) return skip(e.name, "not in this glibc");
    if (e.real != nullptr && *e.real != nullptr && *e.real != sym) return skip(e.name, "another library defines it");
    Dl_info info;
    ElfW(Sym)* es = nullptr;
    if (dladdr1(sym, &info, reinterpret_cast<void**>(&es), RTLD_DL_SYMENT) == 0 || es == nullptr ||
        es->st_size < kJump) {
      return skip(e.name, "no size");
    }
    auto* code = static_cast<std::uint8_t*>(sym);
    std::uint8_t* tramp = nullptr;
    if (e.real != nullptr) {
      tramp = take(kTrampolineRoom);
      std::size_t taken = 0;
      bool ends = false;
      const int n = tramp ? x86::relocate(code, kJump, tramp, kTrampolineRoom, taken, ends) : -1;
      if (n < 0 || taken < kJump) return skip(e.name, "entry not movable");
      if (!x86::no_branch_into(code, es->st_size, taken)) return skip(e.name, "branches into its entry");
      if (!ends) x86::write_abs_jump(tramp + n, reinterpret_cast<std::uintptr_t>(code + taken));
    }
    std::uint8_t* stub = take(16);
    if (stub == nullptr) return skip(e.name, "no room");
    x86::write_abs_jump(stub, reinterpret_cast<std::uintptr_t>(e.hook));
    const std::int64_t rel = reinterpret_cast<std::int64_t>(stub) - reinterpret_cast<std::int64_t>(code + kJump);
    if (!fits32(rel)) return skip(e.name, "out of reach");
    std::uint8_t jump[kJump] = {0xe9};
    const auto r32 = static_cast<std::int32_t>(rel);
    std::memcpy(jump + 1, &r32, 4);
    if (!write_code(code, jump, kJump)) return skip(e.name, "code not writable");
    if (e.real != nullptr) *e.real = tramp;
    e.rerouted = true;
    ++done;
  }
};

// The hooks must be this library's: a program that defines `read` itself would otherwise
// have glibc's read jump into the program's.
bool ours(const void* hook) {
  Dl_info mine, theirs;
  return dladdr(reinterpret_cast<const void*>(&ours), &mine) != 0 && dladdr(hook, &theirs) != 0 &&
         mine.dli_fbase == theirs.dli_fbase;
}

std::uintptr_t text_lo = 0, text_hi = 0;

}  // namespace

bool code_segment(const void* addr, std::uintptr_t& lo, std::uintptr_t& hi) noexcept {
  struct Look {
    std::uintptr_t addr, lo = 0, hi = 0;
  } look{reinterpret_cast<std::uintptr_t>(addr)};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* arg) {
        auto* l = static_cast<Look*>(arg);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
          const std::uintptr_t a = info->dlpi_addr + ph.p_vaddr;
          if (l->addr >= a && l->addr < a + ph.p_memsz) {
            l->lo = a;
            l->hi = a + ph.p_memsz;
            return 1;
          }
        }
        return 0;
      },
      &look);
  lo = look.lo;
  hi = look.hi;
  return lo != 0;
}

const void* libc_code() noexcept {
  static const void* const at = [] {
    void* libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
    void* f = libc != nullptr ? dlsym(libc, "getpid") : nullptr;
    return f != nullptr ? f : reinterpret_cast<void*>(&::getpid);
  }();
  return at;
}

bool in_libc_stubs(std::uintptr_t pc) noexcept { return pc >= text_lo && pc < text_hi; }

bool resolver_cooperates() noexcept {
  // What glibc's DNS client (res_send) and NSS "files" call that can wait: UDP replies
  // through poll and recvfrom, TCP through connect, writev and read; closes through
  // __close_nocancel.
  static const bool all = [] {
    int n = 0;
    std::size_t count = 0;
    const Entry* entries = table(count);
    for (const Entry& e : std::span(entries, count)) {
      for (const char* want : {"poll", "recvfrom", "connect", "writev", "read", "__close_nocancel"}) {
        if (e.rerouted && std::strcmp(e.name, want) == 0) ++n;
      }
    }
    return n == 6;
  }();
  return all;
}

void patch_libc_entries() noexcept {
  static bool once = false;
  if (once) return;
  once = true;
  const detail::Config& cfg = detail::config();
  if (!cfg.patch_libc) return;
  void* libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
  Dl_info info;
  std::uint8_t* page = nullptr;
  if (libc != nullptr && dladdr(libc_code(), &info) != 0) {
    page = near_page(reinterpret_cast<std::uintptr_t>(info.dli_fbase));
  }
  if (page == nullptr) {
    if (cfg.verbose) std::fprintf(stderr, "greenshim: glibc's internal calls stay unhooked (no code page near glibc)\n");
    return;
  }
  Patcher p{page, 0, static_cast<std::size_t>(sysconf(_SC_PAGESIZE))};
  std::size_t count = 0;
  Entry* entries = table(count);
  for (Entry& e : std::span(entries, count)) {
    if (!ours(e.hook)) {
      p.skip(e.name, "the program defines it");
      continue;
    }
    p.patch(libc, e);
  }
  mprotect(page, p.size, PROT_READ | PROT_EXEC);
  text_lo = reinterpret_cast<std::uintptr_t>(page);
  text_hi = text_lo + p.size;
  if (cfg.verbose) {
    std::fprintf(stderr, "greenshim: %d of glibc's functions reach the hooks from inside glibc%s%s\n", p.done,
                 p.skipped[0] ? "; left alone: " : "", p.skipped);
  }
}

}  // namespace green::shim
