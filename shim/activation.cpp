// When the hooks are live. Under LD_PRELOAD: from load, unless GREEN_DISABLE=1. Linked
// explicitly: inert until green::patch_all() (C: green_patch_all()).
#include <dlfcn.h>
#include <pthread.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <exception>
#include <string>

#include "green/green.h"
#include "green/patch.hpp"
#include "fd_table.hpp"
#include "config.hpp"
#include "hook.hpp"
#include "libc_entry.hpp"
#include "signal_state.hpp"
#include "thread.hpp"

namespace green::shim {

bool hooks_active = false;
bool real_resolved = false;

namespace {

bool preload_mode = false;
thread_local bool tls_adopt_checked __attribute__((tls_model("initial-exec"))) = false;

// Whether the LD_PRELOAD list names this library (by path, or by file name).
bool preloaded() {
  const char* list = getenv("LD_PRELOAD");
  if (list == nullptr) return false;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&preloaded), &info) == 0 || info.dli_fname == nullptr) {
    return false;
  }
  char self[PATH_MAX];
  if (realpath(info.dli_fname, self) == nullptr) return false;
  const char* self_base = strrchr(self, '/');
  self_base = self_base ? self_base + 1 : self;
  std::string entries(list);
  for (char& c : entries) {
    if (c == ':') c = ' ';
  }
  size_t pos = 0;
  while (pos < entries.size()) {
    size_t end = entries.find(' ', pos);
    if (end == std::string::npos) end = entries.size();
    std::string e = entries.substr(pos, end - pos);
    pos = end + 1;
    if (e.empty()) continue;
    char resolved[PATH_MAX];
    if (realpath(e.c_str(), resolved) != nullptr && strcmp(resolved, self) == 0) return true;
    const char* base = strrchr(e.c_str(), '/');
    if (strcmp(base ? base + 1 : e.c_str(), self_base) == 0) return true;
  }
  return false;
}

// Without a hub the thread's calls all go straight to libc: say so, once per thread.
void report_no_hub(const char* why) {
  ensure_real();
  char line[256];
  const int n = snprintf(line, sizeof line,
                         "greenshim: cannot make a hub for thread %ld (%s); its calls run unhooked\n",
                         static_cast<long>(REAL(syscall)(SYS_gettid)), why);
  if (n > 0) (void)!REAL(write)(2, line, static_cast<size_t>(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

__attribute__((constructor(101))) void on_load() {
  resolve_real();
  pthread_atfork(nullptr, nullptr, child_after_fork);
  if (detail::config().disable) return;
  if (preloaded()) {
    preload_mode = true;
    patch_libc_entries();
    hooks_active = true;
  }
}

}  // namespace

// fork(): the child must not share the parent's epoll sets and eventfds, and it has one
// thread, the one that forked.
void child_after_fork() {
  detail::Hub::offload_after_fork();
  if (detail::Hub* hub = detail::Hub::current_if_exists()) {
    hub->after_fork();
    fd_reregister_all(hub);
  }
  threads_after_fork();
}

detail::Hub* adopt_thread() noexcept {
  if (tls_adopt_checked) return nullptr;
  tls_adopt_checked = true;
  // Only the main thread becomes a hub by itself; other threads are greenlets (made by
  // pthread_create) or real threads that the hooks leave alone.
  if (!preload_mode || REAL(syscall)(SYS_gettid) != getpid()) return nullptr;
  try {
    detail::Hub& hub = detail::Hub::current();
    hub_signals_init(hub);
    return &hub;
  } catch (const std::exception& e) {
    report_no_hub(e.what());
  } catch (...) {
    report_no_hub("unknown error");
  }
  return nullptr;
}

}  // namespace green::shim

namespace green {

void patch_all() {
  shim::resolve_real();
  // The calling thread's hub, so its main greenlet is ready.
  shim::hub_signals_init(detail::Hub::current());
  shim::patch_libc_entries();
  shim::hooks_active = true;
}

bool patched() noexcept { return shim::hooks_active; }

}  // namespace green

extern "C" __attribute__((visibility("default"))) int green_patch_all(void) {
  try {
    green::patch_all();
    return 0;
  } catch (const std::exception& e) {
    green::shim::report_no_hub(e.what());
  } catch (...) {
    green::shim::report_no_hub("unknown error");
  }
  return -1;
}
