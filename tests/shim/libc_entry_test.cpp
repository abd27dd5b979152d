// shim/libc_entry.cpp and shim/libc_internal.cpp, as a plain program: the system calls
// glibc makes inside its own functions (stdio's reads and writes, popen/pclose, system(),
// a contended FILE lock, fclose) let the other threads run. Natively every thread is an OS
// thread; under the shim they are greenlets of one OS thread, which such a call used to
// put to sleep whole.
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cctype>
#include <string>
#include <vector>

#include "support.hpp"

using namespace shim_test;

namespace {

class LibcEntryTest : public ShimTest {};

}  // namespace

TEST_F(LibcEntryTest, FgetsOnASocketLetsATickerTick) {
  auto [a, b] = socket_pair();
  FILE* in = ::fdopen(::dup(a), "r");
  ASSERT_NE(in, nullptr);
  const int wfd = b;
  const int threads_before = thread_count();
  ThreadTicker ticker;
  Peer writer([wfd] {
    sleep_ms(200);
    write_fully(wfd, "a line\n", 7);
  });
  const int before = ticker.ticks();
  char line[32] = "";
  ASSERT_NE(::fgets(line, sizeof line, in), nullptr);
  const int during = ticker.ticks() - before;
  EXPECT_STREQ(line, "a line\n");
  EXPECT_GE(during, 10) << "the ticker did not run while fgets waited";
  if (shim_expected()) {
    EXPECT_EQ(thread_count(), threads_before);
  }
  ::fclose(in);
}

// stdin is a pipe: getline() waits for the writer, which is another thread.
TEST_F(LibcEntryTest, StdinAsAPipeLetsATickerTick) {
  auto [r, w] = pipe_pair();
  const int saved = ::dup(0);
  ASSERT_EQ(::dup2(r, 0), 0);
  const int wfd = w;
  {
    ThreadTicker ticker;
    Peer writer([wfd] {
      sleep_ms(150);
      write_fully(wfd, "first\nsecond\n", 13);
    });
    char* line = nullptr;
    size_t cap = 0;
    const int before = ticker.ticks();
    EXPECT_EQ(::getline(&line, &cap, stdin), 6);
    EXPECT_STREQ(line, "first\n");
    EXPECT_GE(ticker.ticks() - before, 10);
    EXPECT_EQ(::getline(&line, &cap, stdin), 7);
    ::free(line);
  }
  ::clearerr(stdin);
  ::dup2(saved, 0);
  ::close(saved);
}

// A thread-per-connection server that speaks through stdio (fdopen, fgets, fprintf):
// 50 connections at once, each line echoed upper-cased and checked by its client.
TEST_F(LibcEntryTest, StdioServerAtFiftyConnections) {
  constexpr int kConnections = 50, kLines = 20;
  Fd listener = tcp_listener(kConnections);
  const sockaddr_in addr = local_addr(listener);
  const int lfd = listener;
  const int threads_before = thread_count();
  std::atomic<int> served{0}, verified{0}, peak_threads{0};
  {
    Peer server([&] {
      std::vector<std::thread> handlers;
      for (int i = 0; i < kConnections; ++i) {
        const int c = ::accept(lfd, nullptr, nullptr);
        if (c < 0) break;
        handlers.emplace_back([c, &served] {
          FILE* in = ::fdopen(c, "r");
          FILE* out = ::fdopen(::dup(c), "w");
          char line[128];
          while (::fgets(line, sizeof line, in) != nullptr) {
            for (char* p = line; *p; ++p) *p = static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
            std::fputs(line, out);
            std::fflush(out);
          }
          ::fclose(out);
          ::fclose(in);
          ++served;
        });
      }
      for (auto& t : handlers) t.join();
    });
    std::vector<std::thread> clients;
    for (int i = 0; i < kConnections; ++i) {
      clients.emplace_back([&, i] {
        Fd s(::socket(AF_INET, SOCK_STREAM, 0));
        if (connect_to(s, addr) != 0) return;
        FILE* out = ::fdopen(::dup(s), "w");
        FILE* in = ::fdopen(::dup(s), "r");
        int good = 0;
        for (int k = 0; k < kLines; ++k) {
          std::fprintf(out, "client %d line %d\n", i, k);
          std::fflush(out);
          char want[64], got[64] = "";
          std::snprintf(want, sizeof want, "CLIENT %d LINE %d\n", i, k);
          if (::fgets(got, sizeof got, in) != nullptr && std::strcmp(got, want) == 0) ++good;
          if (k == kLines / 2) peak_threads = std::max(peak_threads.load(), thread_count());
        }
        ::fclose(out);
        ::shutdown(s, SHUT_WR);
        ::fclose(in);
        if (good == kLines) ++verified;
      });
    }
    for (auto& t : clients) t.join();
  }
  EXPECT_EQ(verified.load(), kConnections);
  EXPECT_EQ(served.load(), kConnections);
  if (shim_expected()) {
    EXPECT_EQ(peak_threads.load(), threads_before);
  }
}

// popen + fgets and system("sleep 1") while 100 threads sleep 10 ms at a time: none of
// them may wake late by the length of the child's run.
TEST_F(LibcEntryTest, PopenAndSystemWhileAHundredThreadsKeepTime) {
  constexpr int kSleepers = 100;
  std::atomic<bool> stop{false};
  std::atomic<long> worst_us{0};
  std::vector<std::thread> sleepers;
  for (int i = 0; i < kSleepers; ++i) {
    sleepers.emplace_back([&] {
      while (!stop) {
        Stopwatch sw;
        ::usleep(10000);
        const long late = static_cast<long>(sw.ms() * 1000) - 10000;
        long seen = worst_us.load();
        while (late > seen && !worst_us.compare_exchange_weak(seen, late)) {
        }
      }
    });
  }
  sleep_ms(50);
  worst_us = 0;
  FILE* p = ::popen("sleep 0.3; echo from the child", "r");
  ASSERT_NE(p, nullptr);
  char line[64] = "";
  EXPECT_NE(::fgets(line, sizeof line, p), nullptr);
  EXPECT_STREQ(line, "from the child\n");
  EXPECT_EQ(::pclose(p), 0);
  Stopwatch sw;
  const int status = ::system("sleep 1; exit 3");
  const double system_ms = sw.ms();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_GE(system_ms, 950);
  stop = true;
  for (auto& t : sleepers) t.join();
  EXPECT_LT(worst_us.load(), 250000) << "a sleeper woke " << worst_us.load() / 1000 << " ms late";
}

// One thread holds a FILE's lock (flockfile) across a sleep; another writes to the same
// FILE meanwhile, and waits for the lock inside glibc. A ticker keeps ticking through
// both, and the write lands after the holder's, as the lock orders them.
TEST_F(LibcEntryTest, AContendedFileLockLetsATickerTick) {
  auto [r, w] = pipe_pair();
  FILE* out = ::fdopen(::dup(w), "w");
  ASSERT_NE(out, nullptr);
  ThreadTicker ticker;
  std::atomic<bool> locked{false};
  const int before = ticker.ticks();
  {
    Peer holder([&] {
      ::flockfile(out);
      locked = true;
      std::fputs("holder ", out);
      sleep_ms(200);
      std::fputs("done\n", out);
      ::funlockfile(out);
    });
    Peer contender([&] {
      while (!locked) sleep_ms(1);
      std::fputs("contender\n", out);  // waits for the holder's lock
      std::fflush(out);
    });
  }
  EXPECT_GE(ticker.ticks() - before, 15) << "the ticker did not run while the lock was contended";
  ::fclose(out);
  ::close(w.release());
  char buf[64] = "";
  const size_t n = read_fully(r, buf, sizeof buf - 1);
  EXPECT_EQ(std::string(buf, n), "holder done\ncontender\n");
}

// posix_spawn's child runs in the parent's memory until it execs; what it closes there
// (its file actions) must stay open in the parent, whose threads go on using it.
TEST_F(LibcEntryTest, PosixSpawnFileActionsLeaveTheParentsFdsAlone) {
  auto [a, b] = socket_pair();
  posix_spawn_file_actions_t fa;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawn_file_actions_addclose(&fa, a);
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>("true"), nullptr};
  ASSERT_EQ(::posix_spawnp(&pid, "true", &fa, nullptr, argv, environ), 0);
  ::posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(status, 0);
  const int bfd = b;
  Peer writer([bfd] {
    sleep_ms(100);
    write_fully(bfd, "x", 1);
  });
  char c = 0;
  EXPECT_EQ(::read(a, &c, 1), 1);
  EXPECT_EQ(c, 'x');
}
