// shim/resolve.cpp through greenlets: after green::patch_all(), getaddrinfo, getnameinfo
// and gethostbyname_r give glibc's own answers (computed before patching) while the
// calling greenlet parks and the others run.
#include <green/green.hpp>
#include <netdb.h>

#include <memory>

#include "green_support.hpp"

using namespace shim_test;

namespace {

// Resolves a name twice, with a pause between, so that the second lookup finds the
// helper thread of the first idle. Run in a child: a crash there (there was one: the
// shim's pthread_cond_signal on the helper's condition variable) fails one test instead
// of taking the binary down.
SHIM_TEST_CHILD(resolve_twice) {
  green::patch_all();
  for (int i = 0; i < 2; ++i) {
    addrinfo* res = nullptr;
    if (::getaddrinfo("localhost", "80", nullptr, &res) != 0) return 1;
    ::freeaddrinfo(res);
    ::usleep(10000);
  }
  return 0;
}

class ResolveGreenTest : public ShimTest {};

std::string describe(const char* node, const char* service) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(node, service, &hints, &res);
  std::string s = std::to_string(rc);
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
    char text[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    s += std::string(" ") + text + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (res != nullptr) ::freeaddrinfo(res);
  char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
  sockaddr_in lo = loopback(htons(80));
  s += " | " + std::to_string(::getnameinfo(reinterpret_cast<sockaddr*>(&lo), sizeof lo, host, sizeof host,
                                            serv, sizeof serv, 0)) +
       " " + host + " " + serv;
  hostent h{}, *result = nullptr;
  char buf[1024];
  int herr = 0;
  s += " | " + std::to_string(::gethostbyname_r(node, &h, buf, sizeof buf, &result, &herr));
  if (result != nullptr) s += std::string(" ") + result->h_name;
  return s;
}

// Computed before main(), while the library's hooks are still inert: glibc's answer.
const std::string unpatched = describe("localhost", "80");

}  // namespace

TEST_F(ResolveGreenTest, ResolvingRepeatedlyIsSafe) {
  const ChildResult r = run_child("resolve_twice", {});
  EXPECT_TRUE(r.exited_ok()) << "two getaddrinfo calls 10 ms apart: "
                             << (WIFSIGNALED(r.status) ? "killed by signal " + std::to_string(WTERMSIG(r.status))
                                                       : "status " + std::to_string(r.status))
                             << " " << r.output;
}

TEST_F(ResolveGreenTest, AnswersAreTheSameAsBeforePatching) {
  ASSERT_TRUE(green::patched());
  Crew crew;
  std::string patched;
  crew.spawn([&] { patched = describe("localhost", "80"); });
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(patched, unpatched);
  EXPECT_NE(unpatched.find("127.0.0.1:80"), std::string::npos) << unpatched;
}

// getaddrinfo runs on a helper thread: while one greenlet resolves in a loop, a ticker
// greenlet that sleeps 1 ms at a time keeps counting. The loop stops as soon as the ticker
// has advanced (or after 2 s): were resolution blocking the thread, the ticker could not
// advance until the loop had ended.
TEST_F(ResolveGreenTest, ATickerKeepsTickingDuringResolution) {
  Crew crew;
  Ticker ticker(crew);
  int advanced = -1, lookups = 0;
  bool all_ok = true;
  auto resolver = crew.spawn([&] {
    const int t0 = ticker.ticks();
    Stopwatch sw;
    while (ticker.ticks() - t0 < 5 && sw.ms() < 2000) {
      addrinfo hints{};
      hints.ai_family = AF_INET;
      addrinfo* res = nullptr;
      if (::getaddrinfo("localhost", "80", &hints, &res) != 0) all_ok = false;
      if (res != nullptr) ::freeaddrinfo(res);
      ++lookups;
    }
    advanced = ticker.ticks() - t0;
  });
  ASSERT_TRUE(resolver.join(std::chrono::seconds(5)));
  EXPECT_TRUE(all_ok);
  EXPECT_GE(advanced, 5) << "the ticker stood still during " << lookups << " lookups";
}

TEST_F(ResolveGreenTest, TwentyGreenletsResolveAtOnce) {
  Crew crew;
  int same = 0;
  for (int i = 0; i < 20; ++i) {
    crew.spawn([&] {
      if (describe("localhost", "80") == unpatched) ++same;
    });
  }
  ASSERT_TRUE(crew.join(std::chrono::seconds(10)));
  EXPECT_EQ(same, 20);
}

TEST_F(ResolveGreenTest, ErrorsComeBackFromTheHelperThread) {
  Crew crew;
  int numeric = 0, family = 0, erange = 0;
  crew.spawn([&] {
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* res = nullptr;
    numeric = ::getaddrinfo("localhost", nullptr, &hints, &res);
    sockaddr_in lo = loopback();
    char host[NI_MAXHOST];
    family = ::getnameinfo(reinterpret_cast<sockaddr*>(&lo), 3, host, sizeof host, nullptr, 0, 0);
    hostent h{}, *result = nullptr;
    char tiny[8];
    int herr = 0;
    erange = ::gethostbyname_r("localhost", &h, tiny, sizeof tiny, &result, &herr);
  });
  ASSERT_TRUE(crew.join());
  EXPECT_EQ(numeric, EAI_NONAME);
  EXPECT_EQ(family, EAI_FAMILY);
  EXPECT_EQ(erange, ERANGE);
}
