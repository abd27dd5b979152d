// Two third-party programs talking, both under the shim: python3's ThreadingHTTPServer
// (one greenlet per request, handler sleeps 0.3 s) and curl --parallel fetching 10 URLs
// (its threaded resolver's threads are greenlets; getaddrinfo runs on greenshim's helper).
// Skipped when curl or python3 is missing.
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

}  // namespace

TEST(Curl, ParallelFetchesFromAThreadingPythonServerBothUnderTheShim) {
  if (!have("curl") || !have("python3")) GTEST_SKIP() << "needs curl and python3";
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
  const pid_t server = fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    setenv("LD_PRELOAD", GREEN_LIB, 1);
    alarm(30);  // stops by itself whatever happens to the test
    execlp("python3", "python3", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* from_server = fdopen(out[0], "r");
  char line[64] = {};
  ASSERT_NE(std::fgets(line, sizeof line, from_server), nullptr) << "the server did not start";
  const int port = std::atoi(line);
  ASSERT_GT(port, 0);
  std::string cmd = std::string("env LD_PRELOAD=") + GREEN_LIB + " timeout 20 curl -s --parallel --parallel-immediate --parallel-max 10";
  for (int i = 0; i < 10; ++i) cmd += " http://localhost:" + std::to_string(port) + "/r" + std::to_string(i);
  cmd += " 2>/dev/null";  // --parallel draws a progress meter on stderr even with -s
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  std::string body;
  std::array<char, 256> buf;
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) body += buf.data();
  const int status = pclose(p);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  fclose(from_server);
  EXPECT_EQ(status, 0) << body;
  for (int i = 0; i < 10; ++i) {
    EXPECT_NE(body.find("/r" + std::to_string(i) + " tasks=1\n"), std::string::npos) << body;
  }
  EXPECT_LT(secs, 2.5) << "10 requests of 0.3 s each were not served concurrently";
}
