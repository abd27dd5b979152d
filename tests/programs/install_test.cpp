// `make install PREFIX=…` as a user would use it: install into a fresh prefix, build a
// program written from the README with pkg-config alone, run it, and run a plain program
// through the installed greenrun.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::string sh(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  *status = pclose(p);
  return out;
}

}  // namespace

TEST(Install, PkgConfigBuildsTheReadmeProgramAndGreenrunRunsPrograms) {
  const std::string prefix = testing::TempDir() + "greenshim-install-test";
  int st = 0;
  sh("rm -rf " + prefix, &st);
  std::string out = sh(std::string("make -s -C ") + GREEN_ROOT + " install PREFIX=" + prefix, &st);
  ASSERT_EQ(st, 0) << out;
  const std::string src = prefix + "/readme.cpp";
  FILE* f = std::fopen(src.c_str(), "w");
  std::fputs(R"(#include <green/green.hpp>
#include <cstdio>
#include <vector>
using namespace std::chrono_literals;
int main() {
  auto a = green::spawn([] { green::sleep(100ms); return 6; });
  auto b = green::spawn([](int x) { return x * 7; }, 6);
  green::joinall({a, b});
  green::Queue<int> q(3);
  green::Pool pool(10);
  auto squares = pool.map([](int i) { return i * i; }, std::vector{1, 2, 3});
  bool timed_out = false;
  try { green::Timeout t(50ms); q.get(); } catch (const green::TimeoutError&) { timed_out = true; }
  std::printf("%d %d %d %d %d\n", a.get() + b.get(), squares[0], squares[1], squares[2], timed_out);
}
)", f);
  std::fclose(f);
  const std::string pc = "PKG_CONFIG_PATH=" + prefix + "/lib/pkgconfig pkg-config --cflags --libs greenshim";
  out = sh("c++ " + src + " $(" + pc + ") -o " + prefix + "/readme", &st);
  ASSERT_EQ(st, 0) << out;
  out = sh(prefix + "/readme", &st);
  EXPECT_EQ(st, 0);
  EXPECT_EQ(out, "48 1 4 9 1\n");
  out = sh(prefix + "/bin/greenrun --version", &st);
  EXPECT_EQ(st, 0);
  EXPECT_NE(out.find("greenrun"), std::string::npos) << out;
  // The installed greenrun finds the installed library and preloads it.
  out = sh(prefix + "/bin/greenrun sh -c 'echo $LD_PRELOAD'", &st);
  EXPECT_EQ(st, 0);
  EXPECT_EQ(out, prefix + "/lib/libgreenshim.so\n");
  out = sh(prefix + "/bin/greenrun /no/such/program", &st);
  EXPECT_NE(st, 0);
  EXPECT_NE(out.find("cannot run"), std::string::npos) << out;
  sh("rm -rf " + prefix, &st);
}
