// Thread-local storage per thread, as a plain program sees it: C++ thread_local counters
// and destructors, __thread with an initial value, errno, a dlopen()ed module's __thread,
// uselocale, the stack guard, setjmp/longjmp, libc's per-thread error-message buffers and
// resolver state, stdio's FILE lock owner, malloc from many threads, and what glibc does
// with the calling thread's descriptor (fork, setgid, its own locks, sched_getcpu). Runs without the shim and under
// LD_PRELOAD, where every thread is a greenlet of one OS thread with a TLS of its own.
#include <dlfcn.h>
#include <locale.h>
#include <resolv.h>
#include <sched.h>
#include <setjmp.h>
#include <stdio.h>
#include <sys/wait.h>

#include <climits>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "threads_util.hpp"

using namespace threads_test;

namespace {

class TlsTest : public ThreadsTest {};

std::atomic<int> destroyed{0};
struct Counted {
  int value = 0;
  ~Counted() { destroyed.fetch_add(1); }
};
thread_local int tl_counter = 0;
thread_local Counted tl_object;
__thread int initialised = 42;  // .tdata: each thread starts from the image
thread_local std::string owned;  // its destructor frees what each thread put in it

constexpr int kThreads = 8;

// Runs `body(i)` on kThreads threads, which stay alive until all of them are done;
// checks the takeover meanwhile.
void on_threads(const std::function<void*(int)>& body) {
  std::atomic<int> done{0};
  std::atomic<bool> checked{false};
  std::vector<pthread_t> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.push_back(spawn([&, i] {
      void* r = body(i);
      done.fetch_add(1);
      wait_until([&] { return checked.load(); });
      return r;
    }));
  }
  EXPECT_TRUE(wait_until([&] { return done.load() == kThreads; }));
  expect_threads_alive(kThreads);
  checked = true;
  for (pthread_t t : ts) join(t);
}

// This test program's own path.
std::string self_exe() {
  char exe[PATH_MAX] = {};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  return n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string();
}

std::string module_path() {
  const std::string exe = self_exe();
  return exe.substr(0, exe.rfind('/') + 1) + "libtls_module.so";
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long v = 0;
      in >> v;
      return v;
    }
  }
  return -1;
}

std::uintptr_t stack_guard() {
  std::uintptr_t g;
  asm volatile("mov %%fs:0x28, %0" : "=r"(g));
  return g;
}

}  // namespace

TEST_F(TlsTest, ThreadLocalCountersAddressesAndDestructorsArePerThread) {
  destroyed = 0;
  std::vector<int> counts(kThreads), images(kThreads);
  std::vector<const void*> addresses(kThreads);
  on_threads([&](int i) -> void* {
    tl_object.value = i;
    for (int k = 0; k < 100; ++k) {
      ++tl_counter;
      ++initialised;
      if (k % 10 == 0) sleep_ms(1);
    }
    counts[i] = tl_counter;
    images[i] = initialised;
    addresses[i] = &tl_counter;
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(counts[i], 100) << "thread " << i << " shares its thread_local with others";
    EXPECT_EQ(images[i], 142) << "thread " << i << " did not start from __thread's initial value";
  }
  EXPECT_EQ(std::set<const void*>(addresses.begin(), addresses.end()).size(), size_t{kThreads});
  EXPECT_EQ(destroyed.load(), kThreads) << "thread_local destructors run at each thread's exit";
  EXPECT_EQ(initialised, 42) << "the main thread's copy is its own";
}

TEST_F(TlsTest, ErrnoIsPerThreadAcrossABlockingCall) {
  std::vector<int> seen(kThreads);
  on_threads([&](int i) -> void* {
    errno = 1000 + i;
    sleep_ms(3);
    seen[i] = errno;
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(seen[i], 1000 + i);
}

TEST_F(TlsTest, ThreadBlocksInsideACatchBlockWhileOthersThrow) {
  std::vector<std::string> seen(kThreads);
  on_threads([&](int i) -> void* {
    try {
      throw std::runtime_error("from " + std::to_string(i));
    } catch (const std::exception&) {
      sleep_ms(3);  // the others throw and catch meanwhile
      try {
        throw;  // the exception being handled is still this thread's
      } catch (const std::exception& e) {
        seen[i] = e.what();
      }
    }
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(seen[i], "from " + std::to_string(i));
}

TEST_F(TlsTest, DlopenedModuleHasACopyPerThread) {
  void* lib = ::dlopen(module_path().c_str(), RTLD_NOW);
  ASSERT_NE(lib, nullptr) << ::dlerror();
  auto bump = reinterpret_cast<int (*)()>(::dlsym(lib, "module_bump"));
  auto address = reinterpret_cast<int* (*)()>(::dlsym(lib, "module_counter_address"));
  ASSERT_TRUE(bump && address);
  std::vector<int> last(kThreads);
  std::vector<const void*> addresses(kThreads);
  on_threads([&](int i) -> void* {
    for (int k = 0; k < 20; ++k) {
      last[i] = bump();
      sleep_ms(1);
    }
    addresses[i] = address();
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(last[i], 27) << "thread " << i;
  EXPECT_EQ(std::set<const void*>(addresses.begin(), addresses.end()).size(), size_t{kThreads});
  EXPECT_EQ(bump(), 8) << "the main thread's copy is untouched";
  ::dlclose(lib);
}

// One thread after another, as a pool of short tasks runs them (and as the shim hands an
// ended thread's stack and DTV to the next): each starts from the images again.
TEST_F(TlsTest, ThreadsOneAfterAnotherStartFromTheImages) {
  void* lib = ::dlopen(module_path().c_str(), RTLD_NOW);
  ASSERT_NE(lib, nullptr) << ::dlerror();
  auto bump = reinterpret_cast<int (*)()>(::dlsym(lib, "module_bump"));
  ASSERT_NE(bump, nullptr);
  for (int i = 0; i < 50; ++i) {
    std::vector<int> seen;
    join(spawn([&] {
      seen = {initialised, tl_counter, bump(), bump()};
      initialised = -1;
      tl_counter = 1000;
      return nullptr;
    }));
    EXPECT_EQ(seen, (std::vector<int>{42, 0, 8, 9})) << "thread " << i;
  }
  ::dlclose(lib);
}

TEST_F(TlsTest, UselocaleIsPerThread) {
  locale_t mine = ::newlocale(LC_ALL_MASK, "C", nullptr);
  ASSERT_NE(mine, nullptr);
  std::atomic<bool> set{false};
  std::atomic<bool> checked{false};
  bool other_saw_global = false;
  bool kept = false;
  pthread_t a = spawn([&]() -> void* {
    ::uselocale(mine);
    set = true;
    wait_until([&] { return checked.load(); });
    kept = ::uselocale(nullptr) == mine;
    ::uselocale(LC_GLOBAL_LOCALE);
    return nullptr;
  });
  pthread_t b = spawn([&]() -> void* {
    wait_until([&] { return set.load(); });
    other_saw_global = ::uselocale(nullptr) == LC_GLOBAL_LOCALE;
    checked = true;
    return nullptr;
  });
  join(a);
  join(b);
  ::freelocale(mine);
  EXPECT_TRUE(other_saw_global) << "one thread's uselocale reached another thread";
  EXPECT_TRUE(kept);
}

TEST_F(TlsTest, ErrorMessageBuffersArePerThread) {
  std::vector<std::string> seen(kThreads);
  on_threads([&](int i) -> void* {
    const char* msg = std::strerror(50000 + i);  // unknown: formatted into a per-thread buffer
    sleep_ms(3);
    seen[i] = msg;
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(seen[i], "Unknown error " + std::to_string(50000 + i));
}

TEST_F(TlsTest, ResolverStateIsPerThread) {
  std::vector<const void*> states(kThreads);
  on_threads([&](int i) -> void* {
    states[i] = __res_state();
    return nullptr;
  });
  std::set<const void*> distinct(states.begin(), states.end());
  distinct.insert(__res_state());
  EXPECT_EQ(distinct.size(), size_t{kThreads + 1}) << "threads share a resolver state (_res)";
}

// pthread_attr_setstack: the thread's TLS goes at the top of the caller's memory, as
// glibc puts it there, and the thread still owns it.
TEST_F(TlsTest, ThreadOnTheCallersStackOwnsItsTls) {
  constexpr size_t kSize = 256 * 1024;
  std::vector<void*> stacks;
  std::vector<pthread_t> ts;
  std::vector<int> counts(4);
  for (int i = 0; i < 4; ++i) {
    void* stack = nullptr;
    ASSERT_EQ(::posix_memalign(&stack, 4096, kSize), 0);
    stacks.push_back(stack);
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstack(&attr, stack, kSize);
    ts.push_back(spawn(
        [&counts, i]() -> void* {
          for (int k = 0; k < 10; ++k) {
            ++tl_counter;
            sleep_ms(1);
          }
          counts[i] = tl_counter;
          return nullptr;
        },
        &attr));
    ::pthread_attr_destroy(&attr);
  }
  for (pthread_t t : ts) join(t);
  for (void* s : stacks) std::free(s);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(counts[i], 10) << "thread " << i;
}

TEST_F(TlsTest, StdioLockBelongsToTheThreadThatTookIt) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  std::atomic<bool> held{false};
  std::atomic<bool> tried{false};
  int try_result = 0;
  pthread_t owner = spawn([&]() -> void* {
    ::flockfile(f);
    held = true;
    wait_until([&] { return tried.load(); });
    ::funlockfile(f);
    return nullptr;
  });
  pthread_t other = spawn([&]() -> void* {
    wait_until([&] { return held.load(); });
    try_result = ::ftrylockfile(f);
    if (try_result == 0) ::funlockfile(f);
    tried = true;
    return nullptr;
  });
  join(owner);
  join(other);
  std::fclose(f);
  EXPECT_NE(try_result, 0) << "another thread took a FILE lock that one thread holds";
}

TEST_F(TlsTest, StackGuardAndSetjmpWorkOnEveryThread) {
  const std::uintptr_t main_guard = stack_guard();
  std::vector<int> ok(kThreads);
  on_threads([&](int i) -> void* {
    jmp_buf env;
    volatile int round = 0;
    if (setjmp(env) == 0) {
      sleep_ms(2);  // others setjmp meanwhile
      round = 1;
      longjmp(env, 1);
    }
    ok[i] = round == 1 && stack_guard() == main_guard;
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_TRUE(ok[i]) << "thread " << i;
}

// Pinned to one CPU (the last allowed), a thread must report that one: a descriptor whose
// rseq area reads as registered would say CPU 0.
TEST_F(TlsTest, SchedGetcpuNamesTheCpuTheThreadRunsOn) {
  cpu_set_t old_mask, pinned;
  ASSERT_EQ(::sched_getaffinity(0, sizeof old_mask, &old_mask), 0);
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &old_mask)) last = c;
  }
  if (last <= 0) GTEST_SKIP() << "needs a CPU other than 0";
  CPU_ZERO(&pinned);
  CPU_SET(last, &pinned);
  ASSERT_EQ(::sched_setaffinity(0, sizeof pinned, &pinned), 0);
  int cpu = -1;
  join(spawn([&]() -> void* {
    cpu = ::sched_getcpu();
    return nullptr;
  }));
  ::sched_setaffinity(0, sizeof old_mask, &old_mask);
  EXPECT_EQ(cpu, last);
}

// glibc's own locks record their owner by the thread ID in the thread's descriptor: a
// thread that takes and releases the locale lock must leave it free for the main thread.
TEST_F(TlsTest, LocaleLockTakenInAThreadIsFreeAfterwards) {
  join(spawn([]() -> void* {
    ::setlocale(LC_ALL, "C");
    return nullptr;
  }));
  EXPECT_NE(::setlocale(LC_ALL, "C"), nullptr);
}

// glibc signals every other thread it knows to change credentials with it; from a thread,
// that must not wait for the calling OS thread itself.
TEST_F(TlsTest, SetgidFromAThreadReturns) {
  int r = -1;
  join(spawn([&]() -> void* {
    r = ::setgid(::getgid());
    return nullptr;
  }));
  EXPECT_EQ(r, 0) << std::strerror(errno);
}

// POSIX allows EDEADLK here; the shim, which knows main cannot end first, always says it
// (glibc's check misses this case and waits for ever).
TEST_F(TlsTest, JoiningTheMainThreadThatJoinsUsIsADeadlock) {
  if (!shim_expected()) GTEST_SKIP() << "glibc waits for ever";
  const pthread_t main_thread = ::pthread_self();
  int r = 0;
  join(spawn([&]() -> void* {
    r = ::pthread_join(main_thread, nullptr);
    return nullptr;
  }));
  EXPECT_EQ(r, EDEADLK);
}

// fork() from a thread: the child runs on, with the forking thread's TLS, and exits.
TEST_F(TlsTest, ForkFromAThreadGivesAWorkingChild) {
  int status = -1;
  join(spawn([&]() -> void* {
    tl_counter = 33;
    const pid_t child = ::fork();
    if (child == 0) _exit(tl_counter == 33 && std::strerror(70000) != nullptr ? 7 : 1);
    if (child > 0) ::waitpid(child, &status, 0);
    return nullptr;
  }));
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

// A thread that used the resolver (res_init) has it closed at exit (the fd check of the
// fixture sees any socket left behind).
TEST_F(TlsTest, ResolverInitialisedInAThreadIsReleasedAtItsExit) {
  int r = -1;
  join(spawn([&]() -> void* {
    r = ::res_init();
    return nullptr;
  }));
  EXPECT_EQ(r, 0);
}

TEST_F(TlsTest, MallocFromManyThreadsKeepsEveryBlockIntact) {
  std::vector<int> bad(kThreads);
  on_threads([&](int i) -> void* {
    std::vector<unsigned char*> blocks;
    for (int round = 0; round < 20; ++round) {
      for (int k = 0; k < 50; ++k) {
        auto* p = static_cast<unsigned char*>(std::malloc(16 + 37 * k));
        std::memset(p, i, 16 + 37 * k);
        blocks.push_back(p);
      }
      sleep_ms(1);  // the others allocate and free meanwhile
      for (size_t k = 0; k < blocks.size(); ++k) {
        if (blocks[k][0] != i || blocks[k][15] != i) ++bad[i];
        std::free(blocks[k]);
      }
      blocks.clear();
    }
    return nullptr;
  });
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(bad[i], 0) << "thread " << i;
}

// Where the CPU lacks wrfsbase, thread pointers are set with arch_prctl: the same tests,
// in a child of this program forced onto that path (GREEN_FSBASE=syscall).
TEST_F(TlsTest, ThreadPointersSetBySystemCallGiveTheSameTls) {
  if (!shim_expected()) GTEST_SKIP() << "a setting of the shim";
  const std::string exe = self_exe();
  ASSERT_FALSE(exe.empty());
  const std::string cmd = "GREEN_FSBASE=syscall " + exe +
                          " --gtest_filter='TlsTest.ThreadLocal*:TlsTest.Errno*:TlsTest.ThreadBlocks*:"
                          "TlsTest.Dlopened*:TlsTest.Stdio*' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("[  PASSED  ] 5 tests."), std::string::npos) << out;
}

// glibc frees a thread's TLS and what libc hangs on it when the thread ends; so must the
// shim. Each thread uses all of it: a thread_local with a heap-owning destructor, a key
// value, a dlopen()ed module's dynamic TLS, an unknown errno's message, malloc.
TEST_F(TlsTest, NothingGrowsPerCreatedThread) {
  void* lib = ::dlopen(module_path().c_str(), RTLD_NOW);
  ASSERT_NE(lib, nullptr) << ::dlerror();
  auto bump = reinterpret_cast<int (*)()>(::dlsym(lib, "module_bump"));
  pthread_key_t key;
  ASSERT_EQ(::pthread_key_create(&key, [](void* p) { std::free(p); }), 0);
  auto body = [](void* arg) -> void* {
    auto* ctx = static_cast<std::pair<pthread_key_t, int (*)()>*>(arg);
    owned.assign(200, 'x');
    ::pthread_setspecific(ctx->first, std::malloc(64));
    ctx->second();
    (void)std::strerror(60000);
    (void)strsignal(SIGRTMIN + 2);
    std::free(std::malloc(100));
    return nullptr;
  };
  std::pair<pthread_key_t, int (*)()> ctx{key, bump};
  // Every tenth thread on a stack of a size of its own (not a pooled one).
  pthread_attr_t odd;
  ::pthread_attr_init(&odd);
  ::pthread_attr_setstacksize(&odd, 300 * 1024);
  auto cycles = [&](int n) {
    for (int i = 0; i < n; ++i) {
      pthread_t t;
      ASSERT_EQ(::pthread_create(&t, i % 10 == 0 ? &odd : nullptr, body, &ctx), 0);
      ASSERT_EQ(::pthread_join(t, nullptr), 0);
    }
  };
  cycles(1000);
  const long before = rss_kib();
  cycles(100000);
  const long after = rss_kib();
  ::pthread_attr_destroy(&odd);
  ::pthread_key_delete(key);
  ::dlclose(lib);
  EXPECT_LT(after - before, 2048) << "RSS grew from " << before << " KiB to " << after
                                  << " KiB over 100000 thread lifetimes";
}
