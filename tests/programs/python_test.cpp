// Real third-party programs under the shim: python3's threading, unmodified. Each case runs
// a python3 script under LD_PRELOAD and checks that it works and that the shim took over
// (one OS thread in /proc/self/task, concurrency visible in wall time). Skipped when the
// machine has no python3.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::string lib_path() { return std::string(GREEN_LIB); }

bool have_python() { return std::system("python3 -c pass >/dev/null 2>&1") == 0; }

struct PyRun {
  int status;
  std::string out;
};

// Runs `script` with python3 under the shim (bounded by `timeout`), stdout captured.
PyRun run_python(const std::string& script, int timeout_s = 30) {
  const std::string path = testing::TempDir() + "greenshim_py_test.py";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(script.c_str(), f);
  std::fclose(f);
  const std::string cmd = "timeout -k 2 " + std::to_string(timeout_s) + " env LD_PRELOAD=" + lib_path() +
                          " python3 " + path + " 2>&1";
  PyRun r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.out += buf.data();
  r.status = pclose(p);
  return r;
}

}  // namespace

// 200 threading.Threads that each time.sleep(1): one OS thread, about one second.
TEST(Python, TwoHundredSleepingThreadsShareOneOsThread) {
  if (!have_python()) GTEST_SKIP() << "no python3";
  const PyRun r = run_python(R"(
import os, threading, time
t0 = time.monotonic()
ts = [threading.Thread(target=time.sleep, args=(1,)) for _ in range(200)]
for t in ts: t.start()
tasks = len(os.listdir('/proc/self/task'))
for t in ts: t.join()
print("tasks=%d elapsed=%.2f" % (tasks, time.monotonic() - t0))
)");
  ASSERT_EQ(r.status, 0) << r.out;
  int tasks = 0;
  double elapsed = 0;
  ASSERT_EQ(std::sscanf(r.out.c_str(), "tasks=%d elapsed=%lf", &tasks, &elapsed), 2) << r.out;
  EXPECT_EQ(tasks, 1);
  EXPECT_GE(elapsed, 0.95);
  EXPECT_LT(elapsed, 2.0) << "the sleeps did not overlap";
}

// A ThreadingHTTPServer whose handler sleeps 0.3 s, queried by 20 client threads at once
// (urllib in the same process: every thread a greenlet, server and clients alike).
TEST(Python, ThreadingHttpServerServesConcurrentClients) {
  if (!have_python()) GTEST_SKIP() << "no python3";
  const PyRun r = run_python(R"(
import http.server, os, threading, time, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.3)
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port = srv.server_address[1]
results = {}
def get(i):
    with urllib.request.urlopen("http://127.0.0.1:%d/item%d" % (port, i), timeout=10) as resp:
        results[i] = resp.read().decode()
t0 = time.monotonic()
cs = [threading.Thread(target=get, args=(i,)) for i in range(20)]
for c in cs: c.start()
time.sleep(0.1)
# greenshim's own resolver threads (named green-offload) do not count.
tasks = sum(1 for t in os.listdir('/proc/self/task')
            if open('/proc/self/task/%s/comm' % t).read().strip() != 'green-offload')
for c in cs: c.join()
elapsed = time.monotonic() - t0
ok = all(results.get(i) == "/item%d" % i for i in range(20))
srv.shutdown()
print("ok=%d tasks=%d elapsed=%.2f" % (ok, tasks, elapsed))
)");
  ASSERT_EQ(r.status, 0) << r.out;
  int ok = 0, tasks = 0;
  double elapsed = 0;
  ASSERT_EQ(std::sscanf(r.out.c_str(), "ok=%d tasks=%d elapsed=%lf", &ok, &tasks, &elapsed), 3) << r.out;
  EXPECT_EQ(ok, 1) << "a response was missing or wrong";
  EXPECT_EQ(tasks, 1);
  EXPECT_GE(elapsed, 0.29);
  EXPECT_LT(elapsed, 3.0) << "20 requests of 0.3 s each were not served concurrently";
}

// subprocess, a pipe and a queue.Queue between threads.
TEST(Python, SubprocessAndQueueAcrossThreads) {
  if (!have_python()) GTEST_SKIP() << "no python3";
  const PyRun r = run_python(R"(
import queue, subprocess, threading
q = queue.Queue()
def worker(n):
    out = subprocess.run(["echo", "w%d" % n], capture_output=True, text=True).stdout.strip()
    q.put(out)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(q.get() for _ in range(5)))
)");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "['w0', 'w1', 'w2', 'w3', 'w4']\n");
}
