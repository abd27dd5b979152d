// greenrun: runs a program with greenshim preloaded — gevent's monkey-patching for any
// dynamically linked program. Sets LD_PRELOAD (prepending to any existing value) and the
// GREEN_* settings given as options, then execs the program.
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr const char* kVersion = "0.1.0";

struct Option {
  const char* flag;      // --flag=VALUE
  const char* variable;  // the GREEN_* variable it sets
  const char* help;
};

// One table: --help, parsing and docs/configuration.md all describe these.
constexpr Option kOptions[] = {
    {"--stack-size", "GREEN_STACK_SIZE", "usable bytes per greenlet stack (256k; k/M/G suffixes)"},
    {"--stack-pool", "GREEN_STACK_POOL", "stacks kept for reuse per hub (1024)"},
    {"--poll-us", "GREEN_POLL_US", "longest run of ready greenlets, in µs, before the hub polls I/O (50)"},
    {"--preempt-ms", "GREEN_PREEMPT_MS", "how long a thread may run without blocking, in ms, before it is preempted (10; 0: never)"},
    {"--threads", "GREEN_THREADS", "'green' (default): pthreads become greenlets; 'real': OS threads"},
    {"--real-threads", "GREEN_REAL_THREADS", "colon-separated libraries whose threads stay real (e.g. libjvm.so)"},
    {"--offload-threads", "GREEN_OFFLOAD_THREADS", "real helper threads for name resolution (4)"},
    {"--fsbase", "GREEN_FSBASE", "'auto' (default): wrfsbase where allowed; 'syscall': arch_prctl always"},
    {"--patch-libc", "GREEN_PATCH_LIBC", "'1' (default): glibc's internal calls (stdio, system, FILE locks) reach the hooks; '0': not"},
    {"--trap-syscalls", "GREEN_TRAP_SYSCALLS", "'1' (default): system calls made outside glibc (liburing, inline asm) trap and cooperate; '0': not"},
    {"--verbose", "GREEN_VERBOSE", "'1': say on stderr what greenshim could not set up; '0' (default): silent"},
};

void usage(FILE* out) {
  std::fprintf(out,
               "usage: greenrun [options] [--] program [args...]\n\n"
               "Runs program with greenshim preloaded: its threads become greenlets on one hub\n"
               "and its blocking calls (sockets, sleeps, poll/select/epoll, locks) yield.\n\n"
               "options:\n");
  for (const Option& o : kOptions) std::fprintf(out, "  %s=VALUE%*s%s  [%s]\n", o.flag,
                                               static_cast<int>(18 - strlen(o.flag)), "", o.help, o.variable);
  std::fprintf(out,
               "  --quiet                   no one-line reports of failed greenlets  [GREEN_QUIET=1]\n"
               "  --disable                 load greenshim but leave every call to libc  [GREEN_DISABLE=1]\n"
               "  --lib=PATH                the libgreenshim.so to preload\n"
               "  -h, --help                this text\n"
               "  --version                 greenshim's version\n\n"
               "Every option may also be given as its environment variable; see docs/configuration.md.\n");
}

std::string dir_of_self() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

// build/bin/greenrun → build/libgreenshim.so; PREFIX/bin/greenrun → PREFIX/lib/….
std::string find_library() {
  const std::string dir = dir_of_self();
  for (const std::string& c : {dir + "/../libgreenshim.so", dir + "/../lib/libgreenshim.so"}) {
    char real[PATH_MAX];
    if (realpath(c.c_str(), real) != nullptr && access(real, R_OK) == 0) return real;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string lib;
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) {
      ++i;
      break;
    }
    if (a[0] != '-') break;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "--version") == 0) {
      std::printf("greenrun (greenshim) %s\n", kVersion);
      return 0;
    }
    if (strcmp(a, "--quiet") == 0) {
      setenv("GREEN_QUIET", "1", 1);
      continue;
    }
    if (strcmp(a, "--disable") == 0) {
      setenv("GREEN_DISABLE", "1", 1);
      continue;
    }
    if (strncmp(a, "--lib=", 6) == 0) {
      lib = a + 6;
      continue;
    }
    bool known = false;
    for (const Option& o : kOptions) {
      const size_t len = strlen(o.flag);
      if (strncmp(a, o.flag, len) == 0 && a[len] == '=' && a[len + 1] != '\0') {
        setenv(o.variable, a + len + 1, 1);
        known = true;
      }
    }
    if (!known) {
      std::fprintf(stderr, "greenrun: unknown option '%s' (see greenrun --help)\n", a);
      return 2;
    }
  }
  if (i >= argc) {
    std::fprintf(stderr, "greenrun: no program given (see greenrun --help)\n");
    return 2;
  }
  if (lib.empty()) lib = find_library();
  if (lib.empty() || access(lib.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "greenrun: cannot find libgreenshim.so%s%s (use --lib=PATH)\n",
                 lib.empty() ? "" : " at ", lib.c_str());
    return 127;
  }
  const char* old = getenv("LD_PRELOAD");
  const std::string preload = old != nullptr && *old != '\0' ? lib + ":" + old : lib;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  execvp(argv[i], argv + i);
  std::fprintf(stderr, "greenrun: cannot run '%s': %s\n", argv[i], strerror(errno));
  return 127;
}
