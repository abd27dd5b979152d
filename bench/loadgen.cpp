// bench/loadgen: a single-threaded epoll load generator for echo servers.
//
// Opens C connections (spread over source addresses 127.0.0.2… past 20 000, so the
// ephemeral ports of one source never run out) and, in a closed loop on each, sends S
// bytes and waits for the full, byte-verified echo. After a warm-up it measures for D
// seconds, then prints one line:
//   conns=C size=S seconds=D round_trips=N rt_per_s=X p50_us=Y p99_us=Z errors=E
// With --burst=N it then also opens N new connections while the C others keep echoing
// and prints the time until every new one has completed a round trip:
//   burst=N burst_seconds=T
// It stops by itself; a connection that fails or echoes a wrong byte counts as an error,
// and any error makes the exit status 1.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 100;
  int size = 64;
  double duration = 3;
  double warmup = 1;
  int burst = 0;
  double connect_timeout = 30;
};

struct Conn {
  int fd = -1;
  bool connected = false;
  bool burst = false;
  bool burst_done = false;
  size_t sent = 0;
  size_t received = 0;
  unsigned seq = 0;
  Clock::time_point started;
};

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

unsigned char pattern(unsigned id, unsigned seq, size_t i) {
  return static_cast<unsigned char>((id * 131u + seq * 31u + static_cast<unsigned>(i) * 7u) & 0xff);
}

class Load {
 public:
  explicit Load(const Args& a) : a_(a), ep_(epoll_create1(EPOLL_CLOEXEC)) {
    if (inet_pton(AF_INET, a.host.c_str(), &dst_.sin_addr) != 1) die("bad --host");
    dst_.sin_family = AF_INET;
    dst_.sin_port = htons(static_cast<unsigned short>(a.port));
    out_.resize(static_cast<size_t>(a.size));
    in_.resize(static_cast<size_t>(a.size));
  }

  void open(int n, bool burst) {
    for (int i = 0; i < n; ++i) {
      const unsigned id = static_cast<unsigned>(conns_.size());
      Conn c;
      c.burst = burst;
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) die("socket");
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (id >= 20000) {  // another loopback source address per 20 000 connections
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000002u + id / 20000);
        bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
      }
      const int r = connect(c.fd, reinterpret_cast<sockaddr*>(&dst_), sizeof dst_);
      if (r != 0 && errno != EINPROGRESS) die("connect");
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u32 = id;
      epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
      conns_.push_back(c);
    }
  }

  // Runs the event loop until `until` (seconds on now_s()), or until `stop()` is true.
  template <class Stop>
  void run(double until, Stop stop) {
    std::vector<epoll_event> evs(4096);
    while (now_s() < until && !stop()) {
      const int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 10);
      for (int i = 0; i < n; ++i) handle(evs[i].data.u32, evs[i].events);
    }
  }

  int connected() const { return connected_; }
  long errors() const { return errors_; }
  void start_measuring() { measuring_ = true; }
  void stop_measuring() { measuring_ = false; }
  std::vector<double>& samples() { return samples_us_; }
  long round_trips() const { return round_trips_; }
  int burst_done() const { return burst_done_; }

 private:
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    std::exit(2);
  }

  void fail(unsigned id) {
    ++errors_;
    Conn& c = conns_[id];
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }

  void arm(Conn& c, unsigned id, unsigned events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = id;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void handle(unsigned id, unsigned events) {
    Conn& c = conns_[id];
    if (c.fd < 0) return;
    if (!c.connected) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) return fail(id);
      c.connected = true;
      ++connected_;
      c.started = Clock::now();
    }
    if (c.sent < out_.size()) {
      for (size_t i = 0; i < out_.size(); ++i) out_[i] = pattern(id, c.seq, i);
      const ssize_t w = send(c.fd, out_.data() + c.sent, out_.size() - c.sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return fail(id);
      if (w > 0) c.sent += static_cast<size_t>(w);
      arm(c, id, c.sent < out_.size() ? EPOLLOUT : EPOLLIN);
      if (c.sent < out_.size()) return;
    }
    for (;;) {
      const ssize_t r = recv(c.fd, in_.data(), in_.size() - c.received, 0);
      if (r == 0) return fail(id);
      if (r < 0) {
        if (errno == EAGAIN) return;
        return fail(id);
      }
      for (ssize_t i = 0; i < r; ++i) {
        if (in_[static_cast<size_t>(i)] != pattern(id, c.seq, c.received + static_cast<size_t>(i))) return fail(id);
      }
      c.received += static_cast<size_t>(r);
      if (c.received < in_.size()) continue;
      const auto t = Clock::now();
      if (measuring_) {
        ++round_trips_;
        samples_us_.push_back(std::chrono::duration<double, std::micro>(t - c.started).count());
      }
      if (c.burst && !c.burst_done) {
        c.burst_done = true;
        ++burst_done_;
      }
      c.started = t;
      c.sent = c.received = 0;
      ++c.seq;
      handle(id, EPOLLOUT);  // next round trip at once: a closed loop
      return;
    }
  }

  Args a_;
  int ep_;
  sockaddr_in dst_{};
  std::vector<Conn> conns_;
  std::vector<unsigned char> out_, in_;
  int connected_ = 0;
  long errors_ = 0;
  bool measuring_ = false;
  long round_trips_ = 0;
  int burst_done_ = 0;
  std::vector<double> samples_us_;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto val = [&](const char* name) -> const char* {
      const size_t n = strlen(name);
      return s.compare(0, n, name) == 0 ? s.c_str() + n : nullptr;
    };
    if (auto v = val("--host=")) a.host = v;
    else if (auto v = val("--port=")) a.port = atoi(v);
    else if (auto v = val("--conns=")) a.conns = atoi(v);
    else if (auto v = val("--size=")) a.size = atoi(v);
    else if (auto v = val("--duration=")) a.duration = atof(v);
    else if (auto v = val("--warmup=")) a.warmup = atof(v);
    else if (auto v = val("--burst=")) a.burst = atoi(v);
    else {
      std::fprintf(stderr,
                   "usage: loadgen --port=P [--host=127.0.0.1] [--conns=100] [--size=64] "
                   "[--duration=3] [--warmup=1] [--burst=N]\n");
      return 2;
    }
  }
  if (a.port <= 0 || a.conns <= 0 || a.size <= 0) {
    std::fprintf(stderr, "loadgen: --port, --conns and --size must be positive\n");
    return 2;
  }
  Load load(a);
  // Connect in slices: a listen backlog of a few thousand would drop a burst of SYNs.
  const double connect_deadline = now_s() + a.connect_timeout;
  for (int opened = 0; opened < a.conns;) {
    const int n = std::min(500, a.conns - opened);
    load.open(n, false);
    opened += n;
    load.run(connect_deadline, [&] { return load.connected() + load.errors() >= opened; });
  }
  if (load.connected() < a.conns) {
    std::fprintf(stderr, "loadgen: only %d of %d connections established\n", load.connected(), a.conns);
    return 1;
  }
  load.run(now_s() + a.warmup, [] { return false; });
  load.start_measuring();
  const double t0 = now_s();
  load.run(t0 + a.duration, [] { return false; });
  const double secs = now_s() - t0;
  load.stop_measuring();
  auto& s = load.samples();
  std::printf("conns=%d size=%d seconds=%.2f round_trips=%ld rt_per_s=%.0f p50_us=%.1f p99_us=%.1f errors=%ld\n",
              a.conns, a.size, secs, load.round_trips(), static_cast<double>(load.round_trips()) / secs,
              percentile(s, 0.50), percentile(s, 0.99), load.errors());
  if (a.burst > 0) {
    const double b0 = now_s();
    load.open(a.burst, true);
    load.run(b0 + 60, [&] { return load.burst_done() >= a.burst; });
    std::printf("burst=%d burst_seconds=%.3f burst_completed=%d\n", a.burst, now_s() - b0, load.burst_done());
    if (load.burst_done() < a.burst) return 1;
  }
  std::fflush(stdout);
  return load.errors() == 0 ? 0 : 1;
}
