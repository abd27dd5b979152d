// MariaDB's server, a thread-per-connection C++ program whose current session is a
// thread_local, under the shim: Debian's mariadbd on a loopback port with a fresh datadir
// (no systemd), 64 concurrent connections running verified transactions (transfers between
// accounts plus a log row each; counts and checksums read back), then the server must still
// answer and must have run on at most 2 OS threads. InnoDB's native AIO is on, as by
// default: it waits for io_uring completions in liburing's own system calls, which the
// shim traps (shim/syscall_trap.cpp); the log must say InnoDB used io_uring.
// Skipped, with the reason, when mariadb-server is not installed.
#include <gtest/gtest.h>
#include <signal.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "shell.hpp"

using programs_test::free_port;
using programs_test::Ran;
using programs_test::run;

namespace {

constexpr int kConnections = 64;
constexpr int kTransactions = 80;  // per connection
constexpr int kAccounts = 100;
constexpr int kStartBalance = 1000;

// The SQL one connection runs: transfers between two accounts, locked in id order (so
// that InnoDB never has a deadlock to report), each with a log row naming it.
std::string client_script(int c) {
  std::string s;
  for (int t = 1; t <= kTransactions; ++t) {
    int a = (c * 7 + t) % kAccounts;
    int b = (c * 13 + t * 3 + 1) % kAccounts;
    if (a == b) b = (b + 1) % kAccounts;
    const int low = a < b ? a : b, high = a < b ? b : a;
    s += "BEGIN; UPDATE acct SET bal = bal - 1 WHERE id = " + std::to_string(low) +
         "; UPDATE acct SET bal = bal + 1 WHERE id = " + std::to_string(high) +
         "; INSERT INTO log VALUES (" + std::to_string(c) + ", " + std::to_string(t) + "); COMMIT;\n";
  }
  return s;
}

}  // namespace

TEST(MariaDB, SixtyFourConnectionsRunVerifiedTransactionsOnGreenlets) {
  for (const char* tool : {"/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/mariadb",
                           "/usr/bin/mariadb-admin"}) {
    if (access(tool, X_OK) != 0) GTEST_SKIP() << "needs " << tool << " (Debian package mariadb-server)";
  }
  const std::string dir = testing::TempDir() + "greenshim_mariadb";
  const std::string sock = dir + "/sock";
  ASSERT_EQ(run("rm -rf " + dir + " && mkdir -p " + dir).status, 0);
  const Ran installed = run("timeout 60 mariadb-install-db --no-defaults --datadir=" + dir +
                             "/data --user=root --skip-test-db --auth-root-authentication-method=normal 2>&1");
  ASSERT_EQ(installed.status, 0) << installed.out;

  const int port = free_port();
  ASSERT_GT(port, 0);
  const pid_t server = fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    const int log = ::open((dir + "/server.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 1);
    dup2(log, 2);
    setenv("LD_PRELOAD", GREEN_LIB, 1);
    alarm(180);  // stops by itself whatever happens to the test
    execl("/usr/sbin/mariadbd", "mariadbd", "--no-defaults", ("--datadir=" + dir + "/data").c_str(),
          ("--socket=" + sock).c_str(), ("--port=" + std::to_string(port)).c_str(), "--bind-address=127.0.0.1", "--user=root",
          "--innodb-buffer-pool-size=64M", "--skip-log-bin",
          ("--pid-file=" + dir + "/pid").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string client = "mariadb --no-defaults --socket=" + sock + " -uroot";
  bool up = false;
  for (int i = 0; i < 150 && !up; ++i) {
    up = run("mariadb-admin --no-defaults --socket=" + sock + " -uroot ping >/dev/null 2>&1").status == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto stop = [&] {
    run("timeout 30 mariadb-admin --no-defaults --socket=" + sock + " -uroot shutdown >/dev/null 2>&1");
    for (int i = 0; i < 100; ++i) {
      if (waitpid(server, nullptr, WNOHANG) == server) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(server, SIGKILL);
    waitpid(server, nullptr, 0);
  };
  if (!up) {
    stop();
    FAIL() << "mariadbd did not start under the shim:\n" << run("tail -20 " + dir + "/server.log").out;
  }

  const std::string schema =
      "CREATE DATABASE t; USE t; CREATE TABLE acct (id INT PRIMARY KEY, bal INT) ENGINE=InnoDB;"
      " CREATE TABLE log (conn INT, seq INT, PRIMARY KEY (conn, seq)) ENGINE=InnoDB;"
      " INSERT INTO acct SELECT seq, " + std::to_string(kStartBalance) + " FROM seq_0_to_" +
      std::to_string(kAccounts - 1) + ";";
  const Ran made = run(client + " -e '" + schema + "' 2>&1");
  ASSERT_EQ(made.status, 0) << made.out;
  for (int c = 0; c < kConnections; ++c) {
    std::ofstream(dir + "/c" + std::to_string(c) + ".sql") << client_script(c);
  }
  // All connections at once; the server's OS threads are counted while they run, less
  // greenshim's named offload helpers, whose number follows the load.
  const Ran load = run("cd " + dir + " && for f in c*.sql; do " + client + " t < $f > $f.out 2>&1 & done;"
                        " sleep 1; cat /proc/$(cat pid)/task/*/comm > comms; grep -vxc green-offload comms > tasks; timeout 120 sh -c wait; wait");
  EXPECT_EQ(load.status, 0);
  const Ran errors = run("cat " + dir + "/c*.sql.out");
  EXPECT_EQ(errors.out, "") << "the clients saw errors";

  const Ran totals = run(client + " -N t -e 'SELECT COUNT(*), COUNT(DISTINCT conn), SUM(conn * 1000 + seq) FROM log;"
                                   " SELECT SUM(bal), MIN(bal) > 0 FROM acct;' 2>&1");
  long long sum_c = 0;
  for (int c = 0; c < kConnections; ++c) sum_c += c;
  const long long checksum = 1000LL * kTransactions * sum_c + kConnections * (kTransactions * (kTransactions + 1LL) / 2);
  const std::string want = std::to_string(kConnections * kTransactions) + "\t" + std::to_string(kConnections) + "\t" +
                           std::to_string(checksum) + "\n" + std::to_string(kAccounts * kStartBalance) + "\t1\n";
  EXPECT_EQ(totals.out, want) << "rows lost, duplicated or mixed between sessions";
  const Ran alive = run("mariadb --no-defaults -h127.0.0.1 -P" + std::to_string(port) + " -uroot -N -e 'SELECT 1' 2>&1");
  EXPECT_EQ(alive.out, "1\n") << "the server stopped answering on its loopback port";
  const int tasks = std::atoi(run("cat " + dir + "/tasks").out.c_str());
  EXPECT_GE(tasks, 1);
  EXPECT_LE(tasks, 2) << "mariadbd's connections were not greenlets:\n" << run("cat " + dir + "/comms").out;
  EXPECT_EQ(run("grep -c 'InnoDB: Using io_uring' " + dir + "/server.log").out, "1\n") << "InnoDB did not use io_uring";
  stop();
  run("rm -rf " + dir);
}
