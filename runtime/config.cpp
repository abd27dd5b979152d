// Reads the GREEN_* variables once; a malformed or out-of-range value falls back to the
// default with a one-line warning rather than failing, because the program being run is
// not ours to stop.
#include "config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace green::detail {

std::size_t parse_size(const char* text, std::size_t fallback) noexcept {
  if (text == nullptr) return fallback;
  while (*text == ' ' || *text == '\t') ++text;
  // strtoull would accept "-1" as 2^64 - 1: only digits may start a size.
  if (*text < '0' || *text > '9') return fallback;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text) return fallback;
  int shift = 0;
  switch (*end) {
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    default: break;
  }
  if (*end != '\0') return fallback;
  if (shift != 0 && v > (~0ull >> shift)) return fallback;  // the suffix would overflow
  return static_cast<std::size_t>(v << shift);
}

namespace {

constexpr std::size_t kMalformed = ~std::size_t{0};

void warn(const char* name, const char* text, const char* want) {
  std::fprintf(stderr, "greenshim: ignoring %s=%s (want %s); using the default\n", name, text, want);
}

// A size within [min, max]; `want` describes the range for the warning.
std::size_t env_size(const char* name, std::size_t fallback, std::size_t min, std::size_t max,
                     const char* want) {
  const char* text = std::getenv(name);
  if (text == nullptr) return fallback;
  const std::size_t v = parse_size(text, kMalformed);
  if (v == kMalformed || v < min || v > max) {
    warn(name, text, want);
    return fallback;
  }
  return v;
}

// One of two words; an empty value counts as unset.
bool env_choice(const char* name, bool fallback, const char* yes, const char* no) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  if (std::strcmp(text, yes) == 0) return true;
  if (std::strcmp(text, no) == 0) return false;
  std::string want = std::string(yes) + " or " + no;
  warn(name, text, want.c_str());
  return fallback;
}

Config load() {
  Config c{};
  c.disable = env_choice("GREEN_DISABLE", false, "1", "0");
  c.green_threads = env_choice("GREEN_THREADS", true, "green", "real");
  if (const char* list = std::getenv("GREEN_REAL_THREADS")) c.real_threads = list;
  c.stack_size = env_size("GREEN_STACK_SIZE", 256 * 1024, 16 * 1024, std::size_t{1} << 30,
                          "a size from 16k to 1G");
  c.stack_pool = env_size("GREEN_STACK_POOL", 1024, 0, 1 << 20, "a count from 0 to 1M");
  c.poll_interval_ns =
      static_cast<long>(env_size("GREEN_POLL_US", 50, 1, 100000, "microseconds from 1 to 100000")) * 1000;
  c.offload_threads = static_cast<unsigned>(
      env_size("GREEN_OFFLOAD_THREADS", 4, 1, 1024, "a count from 1 to 1024"));
  c.report_errors = !env_choice("GREEN_QUIET", false, "1", "0");
  c.fsbase_syscall = env_choice("GREEN_FSBASE", false, "syscall", "auto");
  c.preempt_ns = static_cast<long>(env_size("GREEN_PREEMPT_MS", 10, 0, 1000, "milliseconds from 0 to 1000")) * 1000000;
  c.patch_libc = env_choice("GREEN_PATCH_LIBC", true, "1", "0");
  c.trap_syscalls = env_choice("GREEN_TRAP_SYSCALLS", true, "1", "0");
  c.verbose = env_choice("GREEN_VERBOSE", false, "1", "0");
  return c;
}

}  // namespace

const Config& config() noexcept {
  static const Config c = load();
  return c;
}

}  // namespace green::detail
