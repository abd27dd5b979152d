// Redis under the shim: Debian's redis-server with its default settings, so jemalloc's
// background threads are on. jemalloc makes them past interposition, as real threads, and
// they wait on a condition variable that the server's greenlets signal (freeing a large
// value does). A 1 MiB binary value is set, read back byte for byte and deleted; then
// redis-benchmark runs 20000 requests over 50 connections with no error; the server must
// still answer, and its own threads (bio) must have been greenlets.
// Skipped, with the reason, when redis-server is not installed.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "shell.hpp"

using programs_test::free_port;
using programs_test::Ran;
using programs_test::run;

TEST(Redis, LargeValuesAndABenchmarkWithJemallocsRealThreads) {
  for (const char* tool : {"/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/redis-benchmark"}) {
    if (access(tool, X_OK) != 0) GTEST_SKIP() << "needs " << tool << " (Debian packages redis-server, redis-tools)";
  }
  const std::string dir = testing::TempDir() + "greenshim_redis";
  ASSERT_EQ(run("rm -rf " + dir + " && mkdir -p " + dir).status, 0);
  const int port = free_port();
  ASSERT_GT(port, 0);
  const pid_t server = fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    const int log = ::open((dir + "/server.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 1);
    dup2(log, 2);
    setenv("LD_PRELOAD", GREEN_LIB, 1);
    alarm(120);  // stops by itself whatever happens to the test
    execl("/usr/bin/redis-server", "redis-server", "--port", std::to_string(port).c_str(), "--bind", "127.0.0.1",
          "--save", "", "--appendonly", "no", "--dir", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string cli = "redis-cli -p " + std::to_string(port);
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = run(cli + " PING 2>/dev/null").out == "PONG\n";
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto stop = [&] {
    kill(server, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(server, nullptr, WNOHANG) == server) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(server, SIGKILL);
    waitpid(server, nullptr, 0);
  };
  if (!up) {
    stop();
    FAIL() << "redis-server did not start under the shim:\n" << run("tail -20 " + dir + "/server.log").out;
  }

  // A 1 MiB value of every byte value, twice over (set, replaced, deleted).
  ASSERT_EQ(run("head -c 1048576 /dev/urandom > " + dir + "/big").status, 0);
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(run(cli + " -x SET big < " + dir + "/big").out, "OK\n");
    // redis-cli ends a bulk reply with a newline of its own.
    const Ran same = run(cli + " --raw GET big | head -c 1048576 | cmp - " + dir + "/big && echo same");
    EXPECT_EQ(same.out, "same\n") << "the value came back changed";
  }
  EXPECT_EQ(run(cli + " DEL big").out, "1\n");
  // The server's threads now, less greenshim's named offload helpers: main plus jemalloc's
  // real background threads; Redis's own bio threads are greenlets.
  const Ran comms = run("cat /proc/" + std::to_string(server) + "/task/*/comm");
  const Ran bench = run("timeout 120 redis-benchmark -q -p " + std::to_string(port) +
                        " -n 20000 -c 50 -t set,get,lpush,lpop,incr 2>&1");
  EXPECT_EQ(bench.status, 0) << bench.out;
  EXPECT_EQ(bench.out.find("rror"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("requests per second"), std::string::npos) << bench.out;
  EXPECT_EQ(run(cli + " PING").out, "PONG\n") << "the server died:\n" << run("tail -20 " + dir + "/server.log").out;
  EXPECT_EQ(comms.out.find("bio_"), std::string::npos) << "Redis's bio threads were not greenlets:\n" << comms.out;
  EXPECT_NE(comms.out.find("jemalloc_bg_thd"), std::string::npos) << "jemalloc's background thread did not start:\n" << comms.out;
  stop();
  run("rm -rf " + dir);
}
