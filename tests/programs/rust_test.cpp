// Threaded Rust programs under the shim: Rust's std keeps its current-thread handle in a
// thread_local, so it aborts at the first spawn unless every thread owns its TLS.
//   - a std-only program (tests/programs/rust/threads.rs), built here with rustc: spawn,
//     Builder::name, mpsc, thread_local!, park/unpark, scope, Mutex + Condvar;
//   - ripgrep -j4 over a generated tree.
// Each output must equal the native run's, and under the shim one OS thread must serve.
// Skipped, with the reason, when rustc or rg is missing.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "shell.hpp"

using programs_test::Ran;
using programs_test::run;

namespace {

std::string find_rustc() {
  if (run("command -v rustc >/dev/null 2>&1").status == 0) return "rustc";
  const char* home = std::getenv("HOME");
  const std::string cargo = std::string(home ? home : "/root") + "/.cargo/bin/rustc";
  return access(cargo.c_str(), X_OK) == 0 ? cargo : "";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const std::string kShim = std::string("env LD_PRELOAD=") + GREEN_LIB + " ";

}  // namespace

TEST(Rust, StdThreadsRunOnGreenletsWithTheNativeOutput) {
  const std::string rustc = find_rustc();
  if (rustc.empty()) GTEST_SKIP() << "needs rustc (in PATH or ~/.cargo/bin)";
  const std::string bin = testing::TempDir() + "greenshim_rust_threads";
  const Ran built = run(rustc + " -O --edition 2021 -o " + bin + " " GREEN_ROOT "/tests/programs/rust/threads.rs 2>&1");
  ASSERT_EQ(built.status, 0) << built.out;
  const std::string err = testing::TempDir() + "greenshim_rust_threads.err";
  const Ran native = run("timeout 30 " + bin + " 2>/dev/null");
  ASSERT_EQ(native.status, 0);
  const Ran shim = run(kShim + "timeout 30 " + bin + " 2>" + err);
  EXPECT_EQ(shim.status, 0) << slurp(err);
  EXPECT_EQ(shim.out, native.out);
  EXPECT_NE(shim.out.find("park unparked"), std::string::npos) << shim.out;
  EXPECT_NE(slurp(err).find("tasks=1\n"), std::string::npos)
      << "the Rust threads were not greenlets: " << slurp(err);
}

TEST(Ripgrep, ParallelSearchUnderTheShimMatchesTheNativeOne) {
  if (run("command -v rg >/dev/null 2>&1").status != 0) GTEST_SKIP() << "needs rg (Debian package ripgrep)";
  const std::string tree = testing::TempDir() + "greenshim_rg_tree";
  ASSERT_EQ(run("rm -rf " + tree).status, 0);
  for (int d = 0; d < 20; ++d) {
    const std::string dir = tree + "/d" + std::to_string(d);
    ASSERT_EQ(run("mkdir -p " + dir).status, 0);
    for (int f = 0; f < 25; ++f) {
      std::ofstream out(dir + "/f" + std::to_string(f) + ".txt");
      for (int line = 0; line < 200; ++line) {
        out << "line " << line << " of " << d << "/" << f;
        if ((line * 7 + d * 3 + f) % 41 == 0) out << " needle-" << (line % 5);
        out << "\n";
      }
    }
  }
  // --sort path: the same order whatever thread finds what first.
  const std::string cmd = "timeout 60 rg -j4 --sort path -n 'needle-[0-3]' " + tree;
  const Ran native = run(cmd + " 2>/dev/null");
  ASSERT_EQ(native.status, 0);
  ASSERT_GT(native.out.size(), 1000u);
  const Ran shim = run(kShim + cmd + " 2>&1");
  EXPECT_EQ(shim.status, 0) << shim.out.substr(0, 500);
  EXPECT_EQ(shim.out, native.out);
  // A preprocessor that takes 0.3 s per file keeps rg's 4 workers busy long enough to
  // count its OS threads; the 8 files take 2.4 s one after another, about 0.6 s on 4.
  const std::string pre = testing::TempDir() + "greenshim_rg_pre";
  ASSERT_EQ(run("rm -rf " + pre + " && mkdir -p " + pre + "/tree").status, 0);
  for (int f = 0; f < 8; ++f) std::ofstream(pre + "/tree/f" + std::to_string(f)) << "needle " << f << "\n";
  std::ofstream(pre + "/slow.sh") << "#!/bin/sh\nsleep 0.3\nexec cat \"$1\"\n";
  chmod((pre + "/slow.sh").c_str(), 0755);
  const auto t0 = std::chrono::steady_clock::now();
  const Ran slow = run(kShim + "sh -c 'rg -j4 --pre " + pre + "/slow.sh needle " + pre + "/tree > " + pre +
                       "/out & pid=$!; sleep 0.2; ls /proc/$pid/task | wc -l; wait $pid'");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(std::atoi(slow.out.c_str()), 1) << "rg's workers were not greenlets: " << slow.out;
  EXPECT_EQ(run("wc -l < " + pre + "/out").out, "8\n");
  EXPECT_LT(secs, 1.8) << "rg's 4 workers did not run concurrently";
  run("rm -rf " + pre);
  run("rm -rf " + tree);
}
