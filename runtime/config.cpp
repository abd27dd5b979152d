// Reads the GREEN_* variables once; a malformed value falls back to the default with a
// warning rather than failing, because the program being run is not ours to stop.
#include "config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

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

std::size_t env_size(const char* name, std::size_t fallback, std::size_t min) {
  const char* text = std::getenv(name);
  if (text == nullptr) return fallback;
  constexpr std::size_t kMalformed = ~std::size_t{0};
  std::size_t v = parse_size(text, kMalformed);
  if (v == kMalformed || v < min) {
    std::fprintf(stderr, "greenshim: ignoring %s=%s (want a number >= %zu)\n", name, text, min);
    return fallback;
  }
  return v;
}

Config load() {
  Config c{};
  c.stack_size = env_size("GREEN_STACK_SIZE", 256 * 1024, 16 * 1024);
  c.stack_pool = env_size("GREEN_STACK_POOL", 1024, 0);
  c.poll_interval_ns = static_cast<long>(env_size("GREEN_POLL_US", 50, 1)) * 1000;
  const char* quiet = std::getenv("GREEN_QUIET");
  c.report_errors = !(quiet != nullptr && quiet[0] == '1');
  return c;
}

}  // namespace

const Config& config() noexcept {
  static const Config c = load();
  return c;
}

}  // namespace green::detail
