// Runs each demo of demos/seeds (C++ twins of the gevent tutorials' examples) and checks
// its stdout against what gevent prints for the seed example, line for line, in gevent's
// order. Durations are shrunk with --scale; where gevent's output is random (random sleeps),
// the test checks what is certain: each line exactly once, the rest in order.
//
// Every run is bounded: demos run under timeout(1) (SIGTERM after kLimitSeconds, SIGKILL
// 2 s later), so a hang fails the test instead of stalling it, and no child outlives it.
// SEED_DIR (defined by the Makefile) is the directory of the built demos.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#ifndef SEED_DIR
#error "SEED_DIR must name the directory of the built demos"
#endif

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kLimitSeconds = 20;

struct Result {
  std::string out;     // stdout
  std::string err;     // stderr
  int status = -1;     // exit status; -1 if killed by a signal
  double seconds = 0;  // wall time of the run
};

std::string path_of(const std::string& name) { return std::string(SEED_DIR) + "/" + name; }

std::string slurp(const char* path) {
  std::string s;
  if (FILE* f = std::fopen(path, "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

// Runs SEED_DIR/name with `args`; stdout through popen, stderr into a temporary file.
Result run(const std::string& name, const std::string& args = "") {
  Result r;
  char err_path[] = "/tmp/seeds_test_err_XXXXXX";
  const int err_fd = mkstemp(err_path);
  if (err_fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return r;
  }
  close(err_fd);
  const std::string cmd = "exec timeout -k 2 " + std::to_string(kLimitSeconds) + " '" +
                          path_of(name) + "' " + args + " 2>'" + err_path + "'";
  const auto t0 = Clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    unlink(err_path);
    return r;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
  r.err = slurp(err_path);
  unlink(err_path);
  // timeout(1) exits 124 when it had to stop the demo.
  EXPECT_NE(r.status, 124) << name << " ran longer than " << kLimitSeconds << " s";
  return r;
}

std::string lines(std::initializer_list<std::string> ls) {
  std::string s;
  for (const auto& l : ls) s += l + "\n";
  return s;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// --- seeds 000/001: "Introduction to Python Gevent" / "gevent-intro" --------------------

TEST(Seeds, StartProcess) {
  const Result r = run("start_process", "--scale 0.1");
  EXPECT_EQ(r.out, lines({"Start process", "Life goes on"}));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.5);  // the 5 s blocking sleep, scaled
}

TEST(Seeds, ThreadWait) {
  const Result r = run("thread_wait", "--scale 0.1");
  EXPECT_EQ(r.out, lines({"Start process", "Life goes on", "Done waiting"}));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.5);
}

// With the random draws fixed, gevent's interleaving is known. Time is in units of 1:
// t=0 decrement: val 0; t=1 increment: 1; t=2 multiply: 2 (prints); t=3 decrement: 1
// (prints); t=4 increment: 2; t=9 increment: 3 (prints).
TEST(Seeds, RaceWithFixedDelays) {
  const Result r = run("race", "--scale 0.02 --delays 1,3,5,2,3");
  EXPECT_EQ(r.out, lines({"Start", "Behold...", "Should be 2, but got 2",
                          "Should be -1, but got 1", "Should be 4, but got 3"}));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 9 * 0.02);
}

TEST(Seeds, RaceWithRandomDelays) {
  const Result r = run("race", "--scale 0.02");
  EXPECT_EQ(r.status, 0);
  const auto got = split_lines(r.out);
  ASSERT_EQ(got.size(), 5u) << r.out;
  EXPECT_EQ(got[0], "Start");
  EXPECT_EQ(got[1], "Behold...");
  for (const char* want : {"4", "2", "-1"}) {
    const std::regex re(std::string("Should be ") + want + ", but got -?[0-9]+");
    EXPECT_EQ(std::count_if(got.begin() + 2, got.end(),
                            [&](const std::string& l) { return std::regex_match(l, re); }),
              1)
        << "expected one 'Should be " << want << "' line in:\n" << r.out;
  }
}

TEST(Seeds, FooBarBaz) {
  const Result r = run("foo_bar_baz", "--scale 0.05");
  EXPECT_EQ(r.out, lines({
                       "foo is running",
                       "context switch from foo to bar, still blocking...jump to baz",
                       "baz is blocking, switch back to foo...DONE!",
                       "visiting bar...",
                       "visited bar, still blocking, back to baz...DONE!",
                       "visiting bar again...",
                       "Finally, bar is DONE!",
                   }));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 5 * 0.05);
}

// g2's 1 s select was armed before g3's 1 s sleep, so it ends first.
TEST(Seeds, SelectG1G2G3) {
  const Result r = run("select_g1_g2_g3", "--scale 0.05");
  EXPECT_EQ(r.out, lines({
                       "g1 starts...",
                       "enters g2 while waiting for g1 polling",
                       "hits another polling, switch from g2 to g3",
                       "g1 was probably not done, so jump to g2 again",
                       "g2 is DONE! Only g1 left.",
                       "g3 is DONE! Visiting g1...",
                       "g1 is DONE!",
                   }));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 5 * 0.05);
}

// --- seed 002: the gevent tutorial -------------------------------------------------------

TEST(Seeds, ContextSwitch) {
  const Result r = run("context_switch");
  EXPECT_EQ(r.out, lines({"Running in foo", "Emplict context to bar",
                          "Emplict context switch to foo again",
                          "Implicit swtich switch back to bar"}));
  EXPECT_EQ(r.status, 0);
}

// At scale 0.1 the 2 s polls end at 0.2 s: "0.2" unless a poll is 50 ms late.
TEST(Seeds, Pollers) {
  const Result r = run("pollers", "--scale 0.1");
  EXPECT_EQ(r.out, lines({
                       "Started Polling:  at 0.0 seconds",
                       "Started Polling:  at 0.0 seconds",
                       "Hey lets do some stuff while the greenlets poll, at at 0.0 seconds",
                       "Ended Polling:  at 0.2 seconds",
                       "Ended Polling:  at 0.2 seconds",
                   }));
  EXPECT_EQ(r.status, 0);
}

TEST(Seeds, SyncAsync) {
  const Result r = run("sync_async");
  EXPECT_EQ(r.status, 0);
  const auto got = split_lines(r.out);
  ASSERT_EQ(got.size(), 21u) << r.out;
  EXPECT_EQ(got[0], "Synchronous:");
  for (int i = 1; i <= 9; ++i) EXPECT_EQ(got[i], "Task " + std::to_string(i) + " done");
  EXPECT_EQ(got[10], "Asynchronous:");
  // Asynchronous: any order, each task exactly once.
  std::vector<std::string> async(got.begin() + 11, got.end());
  std::sort(async.begin(), async.end());
  std::vector<std::string> want;
  for (int i = 0; i <= 9; ++i) want.push_back("Task " + std::to_string(i) + " done");
  EXPECT_EQ(async, want) << r.out;
}

TEST(Seeds, Determinism) {
  const Result r = run("determinism");
  EXPECT_EQ(r.out, "True\n");
  EXPECT_EQ(r.status, 0);
}

TEST(Seeds, Spawning) {
  const Result r = run("spawning", "--scale 0.1");
  EXPECT_EQ(r.out, lines({"Hello", "I live!"}));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.2);
}

TEST(Seeds, MyGreenlet) {
  const Result r = run("my_greenlet", "--scale 0.1");
  EXPECT_EQ(r.out, "Hi there!\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.3);
}

TEST(Seeds, GreenletState) {
  const Result r = run("greenlet_state");
  EXPECT_EQ(r.out, lines({"True", "True", "You win!", "None", "True", "True", "True", "False",
                          "You fail at failing."}));
  EXPECT_EQ(r.status, 0);
  // The failure report (gevent's traceback) goes to stderr.
  EXPECT_NE(r.err.find("You fail at failing."), std::string::npos) << r.err;
}

// The demo must be signalled, so it needs its pid: fork and exec instead of popen.
TEST(Seeds, ShutdownOnSigquit) {
  const std::string path = path_of("shutdown");
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  struct Reaper {  // kills and reaps the child on any early exit of the test
    pid_t pid;
    int fd;
    ~Reaper() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
      close(fd);
    }
  } child{pid, out[0]};

  // Reads until `want` is at the end of `got`, EOF, or `deadline`.
  std::string got;
  auto read_until = [&](const std::string& want, Clock::time_point deadline) {
    char buf[256];
    for (;;) {
      if (!want.empty() && got.size() >= want.size() &&
          got.compare(got.size() - want.size(), want.size(), want) == 0) {
        return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{child.fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      const ssize_t n = read(child.fd, buf, sizeof buf);
      if (n <= 0) return want.empty();
      got.append(buf, static_cast<std::size_t>(n));
    }
  };

  ASSERT_TRUE(read_until("ready\n", Clock::now() + std::chrono::seconds(5)))
      << "no ready line; got: " << got;
  const auto t0 = Clock::now();
  ASSERT_EQ(kill(pid, SIGQUIT), 0);
  EXPECT_TRUE(read_until("", t0 + std::chrono::seconds(5))) << "no EOF after SIGQUIT";

  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < t0 + std::chrono::seconds(5)) {
    usleep(10 * 1000);
  }
  ASSERT_EQ(done, pid) << "still running 5 s after SIGQUIT";
  child.pid = 0;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(WIFEXITED(status)) << "ended by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  EXPECT_EQ(got, "ready\n");
  EXPECT_LT(seconds, 1.0);
}

// The Timeout(10) was started before the 10 s sleep, so it fires first.
TEST(Seeds, TimeoutJoin) {
  const Result r = run("timeout_join", "--scale 0.05");
  EXPECT_EQ(r.out, "Could not complete\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 10 * 0.05);
}

// Uncaught TooLong after 5 s of a 10 s sleep: exit status 1, as Python's.
TEST(Seeds, TimeoutTooLong) {
  const Result r = run("timeout_too_long", "--scale 0.1");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "TooLong\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_GE(r.seconds, 0.5);
  EXPECT_LT(r.seconds, 0.95);
}

TEST(Seeds, Timeouts) {
  const Result r = run("timeouts", "--scale 0.1");
  EXPECT_EQ(r.out, lines({"Thread 1 timed out", "Thread 2 timed out", "Thread 3 timed out"}));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.3);
}

TEST(Seeds, EventWakeup) {
  const Result r = run("event_wakeup", "--scale 0.1");
  EXPECT_EQ(r.out, "I live!\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.3);
}

TEST(Seeds, AsyncResult) {
  const Result r = run("async_result", "--scale 0.1");
  EXPECT_EQ(r.out, "Hello!\n");
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.3);
}

TEST(Seeds, QueueWorkers) {
  const Result r = run("queue_workers");
  std::string want;
  const char* names[] = {"steve", "john", "nancy"};
  for (int task = 1; task <= 24; ++task) {
    want += "Worker " + std::string(names[(task - 1) % 3]) + " got task " +
            std::to_string(task) + "\n";
  }
  want += lines({"Quitting time!", "Quitting time!", "Quitting time!"});
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(r.status, 0);
}

TEST(Seeds, QueueBounded) {
  const Result r = run("queue_bounded", "--scale 0.1");
  EXPECT_EQ(r.out, lines({
                       "Worker steve got task 1",
                       "Worker john got task 2",
                       "Worker bob got task 3",
                       "Worker steve got task 4",
                       "Worker john got task 5",
                       "Worker bob got task 6",
                       "Assigned all work in iteration 1",
                       "Worker steve got task 7",
                       "Worker john got task 8",
                       "Worker bob got task 9",
                       "Worker steve got task 10",
                       "Worker john got task 11",
                       "Worker bob got task 12",
                       "Worker steve got task 13",
                       "Worker john got task 14",
                       "Worker bob got task 15",
                       "Worker steve got task 16",
                       "Worker john got task 17",
                       "Worker bob got task 18",
                       "Assigned all work in iteration 2",
                       "Worker steve got task 19",
                       "Quitting time!",
                       "Quitting time!",
                       "Quitting time!",
                   }));
  EXPECT_EQ(r.status, 0);
  EXPECT_GE(r.seconds, 0.1);  // the workers' get(timeout=1), scaled
}

// ping gets 'start' first (put before either actor ran), then the two alternate.
TEST(Seeds, Actors) {
  for (int count : {10, 25}) {
    const Result r = run("actors", "--count " + std::to_string(count));
    std::string want = "start\n";
    for (int i = 1; i < count; ++i) want += (i % 2 == 1) ? "ping\n" : "pong\n";
    EXPECT_EQ(r.out, want) << "--count " << count;
    EXPECT_EQ(r.status, 0);
  }
}

}  // namespace
