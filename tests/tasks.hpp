// The OS threads of this process as /proc shows them: their names and blocked signals, for
// the tests that check greenshim's own helper threads (tests/shim, tests/runtime).
#pragma once

#include <dirent.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace test_tasks {

struct Task {
  std::string name;       // /proc/self/task/<tid>/comm
  std::string sig_blk;    // the SigBlk: line of its status
  bool blocks_every_signal = false;
};

// Every thread whose name starts with `prefix`.
inline std::vector<Task> tasks_named(const std::string& prefix) {
  std::vector<Task> out;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string dir = std::string("/proc/self/task/") + e->d_name;
    Task t;
    std::ifstream comm(dir + "/comm");
    std::getline(comm, t.name);
    if (t.name.rfind(prefix, 0) != 0) continue;
    std::ifstream status(dir + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("SigBlk:", 0) != 0) continue;
      t.sig_blk = line;
      // Every signal but SIGKILL and SIGSTOP (which no mask holds) and glibc's own two.
      const unsigned long long mask = std::strtoull(line.c_str() + 7, nullptr, 16);
      const unsigned long long want = ~0ull & ~(1ull << (SIGKILL - 1)) & ~(1ull << (SIGSTOP - 1)) &
                                      ~(1ull << 31) & ~(1ull << 32);
      t.blocks_every_signal = (mask & want) == want;
    }
    out.push_back(t);
  }
  ::closedir(d);
  return out;
}

}  // namespace test_tasks
