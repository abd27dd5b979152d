// shim/resolve.cpp, as a plain POSIX program: getaddrinfo, getnameinfo, gethostbyname,
// gethostbyname_r and gethostbyaddr give exactly the answers glibc gives without the shim
// (compared against a child process the shim is not loaded into), fail the same way, and
// let the program's other threads run while they resolve. Runs without the shim and under
// LD_PRELOAD.
//
// Names are resolved from /etc/hosts ("localhost"). The one lookup of a missing name does
// go through NSS "dns" (nsswitch "hosts: files dns"); RES_OPTIONS below bounds it to one
// try of one second, so it cannot hang on an unreachable resolver.
#include <arpa/inet.h>
#include <netdb.h>
#include <resolv.h>

#include <atomic>

#include "support.hpp"

using namespace shim_test;

namespace {

[[maybe_unused]] const bool dns_bounded = [] {
  ::setenv("RES_OPTIONS", "timeout:1 attempts:1", 0);
  return true;
}();

// Resolves a name twice, with a pause between, so that the second lookup finds what the
// first left (a helper thread, where lookups are offloaded; the thread's resolver state). Run in a child: a crash there (there was one: the
// shim's pthread_cond_signal on the helper's condition variable) fails one test instead
// of taking the binary down.
SHIM_TEST_CHILD(resolve_twice) {
  for (int i = 0; i < 2; ++i) {
    addrinfo* res = nullptr;
    if (::getaddrinfo("localhost", "80", nullptr, &res) != 0) return 1;
    ::freeaddrinfo(res);
    ::usleep(10000);
  }
  return 0;
}

class ResolveTest : public ShimTest {};

std::string address_text(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

struct Query {
  const char* node;
  const char* service;
  int family, socktype, flags;
};

// One getaddrinfo, as text: the return code and every result in order.
std::string describe_getaddrinfo(const Query& q, int* rc_out = nullptr) {
  addrinfo hints{};
  hints.ai_family = q.family;
  hints.ai_socktype = q.socktype;
  hints.ai_flags = q.flags;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(q.node, q.service, &hints, &res);
  if (rc_out != nullptr) *rc_out = rc;
  std::string s = std::string("getaddrinfo(") + (q.node ? q.node : "NULL") + ", " +
                  (q.service ? q.service : "NULL") + ") = " + std::to_string(rc);
  if (rc != 0) return s + " (" + ::gai_strerror(rc) + ")\n";
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    s += " [" + std::to_string(ai->ai_family) + "/" + std::to_string(ai->ai_socktype) + "/" +
         std::to_string(ai->ai_protocol) + " " + address_text(ai->ai_addr) +
         (ai->ai_canonname ? std::string(" ") + ai->ai_canonname : "") + "]";
  }
  ::freeaddrinfo(res);
  return s + "\n";
}

std::string describe_getnameinfo(const char* ip, int port, int flags) {
  sockaddr_in a = loopback(htons(static_cast<uint16_t>(port)));
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
  const int rc = ::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, sizeof host, serv,
                               sizeof serv, flags);
  return std::string("getnameinfo(") + ip + ":" + std::to_string(port) + ", " + std::to_string(flags) +
         ") = " + std::to_string(rc) + " " + host + " " + serv + "\n";
}

std::string describe_hostent(const char* what, const hostent* h, int err) {
  std::string s = std::string(what) + " = ";
  if (h == nullptr) return s + "NULL h_errno " + std::to_string(err) + "\n";
  s += std::string(h->h_name) + " type " + std::to_string(h->h_addrtype) + " len " + std::to_string(h->h_length);
  for (char** a = h->h_aliases; *a != nullptr; ++a) s += std::string(" alias ") + *a;
  for (char** a = h->h_addr_list; *a != nullptr; ++a) {
    char text[INET6_ADDRSTRLEN] = "?";
    ::inet_ntop(h->h_addrtype, *a, text, sizeof text);
    s += std::string(" ") + text;
  }
  return s + "\n";
}

std::string describe_gethostbyname_r(const char* name, size_t buflen) {
  hostent h{}, *result = nullptr;
  std::vector<char> buf(buflen);
  int herr = 0;
  const int rc = ::gethostbyname_r(name, &h, buf.data(), buf.size(), &result, &herr);
  return "gethostbyname_r(" + std::string(name) + ", " + std::to_string(buflen) + ") rc " + std::to_string(rc) +
         " " + describe_hostent("", result, herr);
}

// Every local lookup this file makes, as text.
std::string describe_all() {
  std::string s;
  for (const Query& q : {Query{"localhost", "80", AF_INET, SOCK_STREAM, 0},
                         Query{"localhost", nullptr, AF_UNSPEC, 0, AI_CANONNAME},
                         Query{"localhost", "http", AF_INET, 0, 0},
                         Query{"127.0.0.1", "443", AF_INET, SOCK_STREAM, AI_NUMERICHOST | AI_NUMERICSERV},
                         Query{nullptr, "8080", AF_INET, SOCK_DGRAM, AI_PASSIVE},
                         Query{"localhost", "no-such-service-greenshim", AF_INET, SOCK_STREAM, 0},
                         Query{"localhost", nullptr, AF_INET, 0, AI_NUMERICHOST},
                         Query{"localhost", "80", 12345, 0, 0}}) {
    s += describe_getaddrinfo(q);
  }
  s += describe_getnameinfo("127.0.0.1", 80, 0);
  s += describe_getnameinfo("127.0.0.1", 80, NI_NUMERICHOST | NI_NUMERICSERV);
  s += describe_getnameinfo("127.0.0.1", 53, NI_DGRAM);
  s += describe_gethostbyname_r("localhost", 1024);
  s += describe_gethostbyname_r("localhost", 8);  // ERANGE
  s += describe_hostent("gethostbyname(localhost)", ::gethostbyname("localhost"), h_errno);
  const in_addr lo{htonl(INADDR_LOOPBACK)};
  s += describe_hostent("gethostbyaddr(127.0.0.1)", ::gethostbyaddr(&lo, sizeof lo, AF_INET), h_errno);
  return s;
}

}  // namespace

TEST_F(ResolveTest, ResolvingRepeatedlyIsSafe) {
  const ChildResult r = run_child("resolve_twice", {});
  EXPECT_TRUE(r.exited_ok()) << "two getaddrinfo calls 10 ms apart: "
                             << (WIFSIGNALED(r.status) ? "killed by signal " + std::to_string(WTERMSIG(r.status))
                                                       : "status " + std::to_string(r.status))
                             << " " << r.output;
}

SHIM_TEST_CHILD(describe_lookups) {
  std::fputs(describe_all().c_str(), stdout);
  return 0;
}

TEST_F(ResolveTest, AnswersAreGlibcsOwn) {
  const std::string here = describe_all();
  const ChildResult plain = run_child("describe_lookups", kWithoutShim);
  ASSERT_TRUE(plain.exited_ok()) << plain.output;
  EXPECT_EQ(here, plain.output);
  if (shim_expected()) {
    EXPECT_EQ(thread_count(), 1) << "a helper thread resolved: the lookups did not run in the thread";
  }
}

TEST_F(ResolveTest, GetaddrinfoFindsLocalhost) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  ASSERT_EQ(::getaddrinfo("localhost", "80", &hints, &res), 0);
  ASSERT_NE(res, nullptr);
  EXPECT_EQ(res->ai_family, AF_INET);
  EXPECT_EQ(res->ai_socktype, SOCK_STREAM);
  EXPECT_EQ(res->ai_protocol, IPPROTO_TCP);
  EXPECT_EQ(address_text(res->ai_addr), "127.0.0.1:80");
  // What it found can be connected to.
  Fd l = tcp_listener();
  reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_port = local_addr(l).sin_port;
  Fd c(::socket(res->ai_family, res->ai_socktype, res->ai_protocol));
  EXPECT_EQ(::connect(c, res->ai_addr, res->ai_addrlen), 0);
  ::freeaddrinfo(res);
}

TEST_F(ResolveTest, GetaddrinfoErrors) {
  int rc = 0;
  describe_getaddrinfo({"localhost", nullptr, AF_INET, 0, AI_NUMERICHOST}, &rc);
  EXPECT_EQ(rc, EAI_NONAME);
  describe_getaddrinfo({"localhost", "no-such-service-greenshim", AF_INET, SOCK_STREAM, 0}, &rc);
  EXPECT_EQ(rc, EAI_SERVICE);
  describe_getaddrinfo({"localhost", "80", 12345, 0, 0}, &rc);
  EXPECT_EQ(rc, EAI_FAMILY);
  describe_getaddrinfo({nullptr, nullptr, AF_INET, 0, 0}, &rc);
  EXPECT_EQ(rc, EAI_NONAME);
}

// A name that exists nowhere: NXDOMAIN from DNS ("invalid" is reserved, RFC 6761), bounded
// to one second by RES_OPTIONS. Without an answering resolver glibc says EAI_AGAIN; that
// proves nothing about the shim, so the case is skipped then.
TEST_F(ResolveTest, AMissingNameIsEaiNoname) {
  Stopwatch sw;
  int rc = 0;
  describe_getaddrinfo({"no-such-host.invalid", "80", AF_INET, SOCK_STREAM, 0}, &rc);
  if (rc == EAI_AGAIN) GTEST_SKIP() << "no DNS answer here (EAI_AGAIN after " << sw.ms() << " ms)";
  EXPECT_EQ(rc, EAI_NONAME) << ::gai_strerror(rc);
  hostent h{}, *result = nullptr;
  char buf[1024];
  int herr = 0;
  EXPECT_EQ(::gethostbyname_r("no-such-host.invalid", &h, buf, sizeof buf, &result, &herr), 0);
  EXPECT_EQ(result, nullptr);
  EXPECT_EQ(herr, HOST_NOT_FOUND);
  EXPECT_LT(sw.ms(), 5000);
}

TEST_F(ResolveTest, GetnameinfoNamesLoopback) {
  sockaddr_in a = loopback(htons(80));
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  ASSERT_EQ(::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, sizeof host, serv, sizeof serv, 0), 0);
  EXPECT_STREQ(host, "localhost");
  EXPECT_STREQ(serv, "http");
  ASSERT_EQ(::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, sizeof host, serv, sizeof serv,
                          NI_NUMERICHOST | NI_NUMERICSERV),
            0);
  EXPECT_STREQ(host, "127.0.0.1");
  EXPECT_STREQ(serv, "80");
  EXPECT_EQ(::getnameinfo(reinterpret_cast<sockaddr*>(&a), 3, host, sizeof host, serv, sizeof serv, 0), EAI_FAMILY);
  EXPECT_EQ(::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, 2, nullptr, 0, 0), EAI_OVERFLOW);
}

TEST_F(ResolveTest, GethostbynameFamily) {
  hostent h{}, *result = nullptr;
  char buf[1024];
  int herr = 0;
  ASSERT_EQ(::gethostbyname_r("localhost", &h, buf, sizeof buf, &result, &herr), 0);
  ASSERT_EQ(result, &h);
  EXPECT_EQ(h.h_addrtype, AF_INET);
  ASSERT_NE(h.h_addr_list[0], nullptr);
  in_addr first{};
  std::memcpy(&first, h.h_addr_list[0], sizeof first);
  EXPECT_EQ(first.s_addr, htonl(INADDR_LOOPBACK));
  char tiny[8];
  EXPECT_EQ(::gethostbyname_r("localhost", &h, tiny, sizeof tiny, &result, &herr), ERANGE);

  const hostent* g = ::gethostbyname("localhost");
  ASSERT_NE(g, nullptr);
  EXPECT_STREQ(g->h_name, "localhost");
  const in_addr lo{htonl(INADDR_LOOPBACK)};
  const hostent* r = ::gethostbyaddr(&lo, sizeof lo, AF_INET);
  ASSERT_NE(r, nullptr);
  EXPECT_STREQ(r->h_name, "localhost");
}

// While a thread resolves names, the others keep running: a ticker that sleeps 1 ms at a
// time advances during the lookups (they would stop it if they blocked the process).
TEST_F(ResolveTest, OtherThreadsRunWhileResolving) {
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  Peer ticker([&] {
    while (!stop) {
      ::usleep(1000);
      ++ticks;
    }
  });
  sleep_ms(5);  // the ticker has started
  const int t0 = ticks;
  Stopwatch sw;
  int lookups = 0;
  while (ticks - t0 < 5 && sw.ms() < 2000) {
    addrinfo* res = nullptr;
    addrinfo hints{};
    hints.ai_family = AF_INET;
    ASSERT_EQ(::getaddrinfo("localhost", "80", &hints, &res), 0);
    ::freeaddrinfo(res);
    char host[NI_MAXHOST];
    sockaddr_in a = loopback();
    ASSERT_EQ(::getnameinfo(reinterpret_cast<sockaddr*>(&a), sizeof a, host, sizeof host, nullptr, 0, 0), 0);
    ++lookups;
  }
  stop = true;
  EXPECT_GE(ticks - t0, 5) << "the ticker stopped while " << lookups << " lookups ran";
}

// --- DNS through NSS, against a server of the test's own -----------------------------
// The resolving thread points its own resolver state (_res) at a loopback server, as a
// program may; each thread has its own, so the lookup must run in that thread. The server
// answers after 200 ms, meanwhile a ticker must keep ticking; under the shim no OS thread
// may appear for the lookup (no helper thread).

namespace {

constexpr int kDnsDelayMs = 200;

// A reply to the query q (n bytes): one A record `ip`, or none and the TC bit set, so that
// the client asks again over TCP.
std::vector<unsigned char> dns_reply(const unsigned char* q, size_t n, bool truncated, const unsigned char ip[4]) {
  std::vector<unsigned char> r(q, q + n);
  r[2] = static_cast<unsigned char>(0x81 | (truncated ? 0x02 : 0));  // QR, RD (TC)
  r[3] = 0x80;                                                          // RA, NOERROR
  r[6] = 0;
  r[7] = truncated ? 0 : 1;  // ANCOUNT
  r[8] = r[9] = r[10] = r[11] = 0;
  if (!truncated) {
    const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};  // the name, A, IN, TTL 60
    r.insert(r.end(), rr, rr + sizeof rr);
    r.insert(r.end(), ip, ip + 4);
  }
  return r;
}

// One UDP socket and one TCP listener on the same loopback port.
struct DnsServer {
  Fd udp{::socket(AF_INET, SOCK_DGRAM, 0)};
  Fd tcp;
  sockaddr_in addr = loopback();
  DnsServer() {
    for (int tries = 0; tries < 50; ++tries) {
      sockaddr_in a = loopback();
      if (::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) continue;
      addr = local_addr(udp);
      tcp.reset(::socket(AF_INET, SOCK_STREAM, 0));
      const int one = 1;
      ::setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(tcp, 4) == 0) {
        set_rcvtimeo(udp, 5000);  // a query that never comes ends the test, not the binary
        set_rcvtimeo(tcp, 5000);
        return;
      }
      udp.reset(::socket(AF_INET, SOCK_DGRAM, 0));
    }
    ADD_FAILURE() << "no port free for both UDP and TCP";
  }
  // Answers one UDP query, late; over UDP truncated, then one TCP query in full.
  void serve(bool via_tcp, const unsigned char ip[4]) {
    unsigned char q[512];
    sockaddr_in peer{};
    socklen_t plen = sizeof peer;
    const ssize_t n = ::recvfrom(udp, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
    if (n < 12) return;
    sleep_ms(kDnsDelayMs);
    const auto r = dns_reply(q, static_cast<size_t>(n), via_tcp, ip);
    ::sendto(udp, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&peer), plen);
    if (!via_tcp) return;
    Fd c(::accept(tcp, nullptr, nullptr));
    unsigned char len[2];
    if (read_fully(c, len, 2) != 2) return;
    std::vector<unsigned char> tq(static_cast<size_t>(len[0] << 8 | len[1]));
    if (read_fully(c, tq.data(), tq.size()) != tq.size()) return;
    sleep_ms(kDnsDelayMs);
    auto tr = dns_reply(tq.data(), tq.size(), false, ip);
    const unsigned char out_len[2] = {static_cast<unsigned char>(tr.size() >> 8), static_cast<unsigned char>(tr.size())};
    write_fully(c, out_len, 2);
    write_fully(c, tr.data(), tr.size());
  }
};

// Resolves `name` in the calling thread through the server at `ns`; "" on failure.
std::string resolve_via(const sockaddr_in& ns, const char* name) {
  if (::res_init() != 0) return "";
  _res.nscount = 1;
  _res.nsaddr_list[0] = ns;
  _res.retrans = 5;
  _res.retry = 1;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int e = ::getaddrinfo(name, nullptr, &hints, &res);
  if (e != 0) return std::string("error: ") + ::gai_strerror(e);
  char text[INET_ADDRSTRLEN] = "";
  ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, text, sizeof text);
  ::freeaddrinfo(res);
  return text;
}

void resolves_while_a_ticker_ticks(bool via_tcp) {
  DnsServer server;
  const unsigned char ip[4] = {10, 1, 2, static_cast<unsigned char>(via_tcp ? 4 : 3)};
  const int threads_before = thread_count();
  std::atomic<int> ticks{0}, peak_threads{0};
  std::atomic<bool> stop{false};
  std::string got;
  {
    Peer ticker([&] {
      while (!stop) {
        ::usleep(5000);
        ++ticks;
        peak_threads = std::max(peak_threads.load(), thread_count());
      }
    });
    Peer dns([&] { server.serve(via_tcp, ip); });
    const int t0 = ticks;
    Peer client([&] { got = resolve_via(server.addr, "node.greenshim.test"); });
    client.join();
    EXPECT_GE(ticks - t0, kDnsDelayMs / 5 / 2) << "the ticker stopped during the lookup";
    stop = true;
  }
  char want[32];
  std::snprintf(want, sizeof want, "10.1.2.%d", ip[3]);
  EXPECT_EQ(got, want);
  if (shim_expected()) {
    EXPECT_EQ(peak_threads.load(), threads_before) << "an OS thread appeared for the lookup";
  }
}

}  // namespace

TEST_F(ResolveTest, DnsOverUdpRunsInTheThreadAndLetsOthersRun) { resolves_while_a_ticker_ticks(false); }

TEST_F(ResolveTest, DnsOverTcpAfterATruncatedReply) { resolves_while_a_ticker_ticks(true); }
