// Two third-party programs talking, both under the shim: python3's ThreadingHTTPServer
// (one greenlet per request, handler sleeps 0.3 s) and curl --parallel fetching 10 URLs
// (its threaded resolver's threads are greenlets, which resolve in themselves). Then curl
// resolving names from a private hosts file (bind-mounted over /etc/hosts with unshare -m):
// it makes at most one clone() (greenshim's probe thread), where natively its resolver
// threads are OS threads. Skipped when curl or python3 is missing, or unshare/strace.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

bool have(const char* tool) { return std::system((std::string("command -v ") + tool + " >/dev/null 2>&1").c_str()) == 0; }

struct Server {
  pid_t pid = -1;
  int port = 0;
  FILE* out = nullptr;
  ~Server() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    if (out != nullptr) fclose(out);
  }
};

// python3's ThreadingHTTPServer under the shim, on a free loopback port.
void start_server(Server& srv) {
  const std::string script = testing::TempDir() + "greenshim_curl_server.py";
  FILE* f = std::fopen(script.c_str(), "w");
  std::fputs(R"(import http.server, os, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.3)
        body = ("%s tasks=%d\n" % (self.path, len(os.listdir('/proc/self/task')))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)", f);
  std::fclose(f);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  srv.pid = fork();
  ASSERT_GE(srv.pid, 0);
  if (srv.pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    setenv("LD_PRELOAD", GREEN_LIB, 1);
    alarm(30);  // stops by itself whatever happens to the test
    execlp("python3", "python3", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  srv.out = fdopen(out[0], "r");
  char line[64] = {};
  ASSERT_NE(std::fgets(line, sizeof line, srv.out), nullptr) << "the server did not start";
  srv.port = std::atoi(line);
  ASSERT_GT(srv.port, 0);
}

std::string output_of(const std::string& cmd, int* status) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string body;
  std::array<char, 256> buf;
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) body += buf.data();
  *status = pclose(p);
  return body;
}

}  // namespace

TEST(Curl, ParallelFetchesFromAThreadingPythonServerBothUnderTheShim) {
  if (!have("curl") || !have("python3")) GTEST_SKIP() << "needs curl and python3";
  Server server;
  start_server(server);
  if (HasFatalFailure()) return;
  const int port = server.port;

  std::string cmd = std::string("env LD_PRELOAD=") + GREEN_LIB + " timeout 20 curl -s --parallel --parallel-immediate --parallel-max 10";
  for (int i = 0; i < 10; ++i) cmd += " http://localhost:" + std::to_string(port) + "/r" + std::to_string(i);
  cmd += " 2>/dev/null";  // --parallel draws a progress meter on stderr even with -s
  const auto t0 = std::chrono::steady_clock::now();
  int status = -1;
  const std::string body = output_of(cmd, &status);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(status, 0) << body;
  for (int i = 0; i < 10; ++i) {
    EXPECT_NE(body.find("/r" + std::to_string(i) + " tasks=1\n"), std::string::npos) << body;
  }
  EXPECT_LT(secs, 2.5) << "10 requests of 0.3 s each were not served concurrently";
}

TEST(Curl, ResolvesFromAPrivateHostsFileWithoutOsThreads) {
  if (!have("curl") || !have("python3") || !have("strace")) GTEST_SKIP() << "needs curl, python3 and strace";
  if (std::system("unshare -m true 2>/dev/null") != 0) GTEST_SKIP() << "unshare -m is not permitted here";
  Server server;
  start_server(server);
  if (HasFatalFailure()) return;
  const std::string dir = testing::TempDir() + "greenshim_curl_hosts";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  FILE* hosts = std::fopen((dir + "/hosts").c_str(), "w");
  std::fputs("127.0.0.1 greenshim-a.test\n127.0.0.1 greenshim-b.test\n", hosts);
  std::fclose(hosts);
  const std::string port = std::to_string(server.port);
  const std::string cmd = "unshare -m sh -c 'mount --bind " + dir + "/hosts /etc/hosts && timeout 20 strace -f -qq -e trace=clone,clone3 -o " +
                          dir + "/trace -E LD_PRELOAD=" + GREEN_LIB + " curl -s http://greenshim-a.test:" +
                          port + "/a http://greenshim-b.test:" + port + "/b'";
  int status = -1;
  const std::string body = output_of(cmd, &status);
  EXPECT_EQ(status, 0) << body;
  EXPECT_EQ(body, "/a tasks=1\n/b tasks=1\n");
  const std::string count = output_of("grep -c clone " + dir + "/trace", &status);
  EXPECT_LE(std::atoi(count.c_str()), 1) << output_of("cat " + dir + "/trace", &status);
  std::system(("rm -rf " + dir).c_str());
}
