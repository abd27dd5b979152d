// Settings read once from GREEN_* environment variables (docs/configuration.md lists them).
#pragma once

#include <cstddef>

namespace green::detail {

struct Config {
  std::size_t stack_size;       // GREEN_STACK_SIZE: usable bytes per greenlet stack
  std::size_t stack_pool;       // GREEN_STACK_POOL: stacks kept for reuse per hub
  long poll_interval_ns;        // GREEN_POLL_US: longest run of ready greenlets between polls
  bool report_errors;           // GREEN_QUIET=1 silences the one-line failure reports
};

const Config& config() noexcept;

// Parses "262144", "256k", "1M"; returns `fallback` for unset or malformed values.
std::size_t parse_size(const char* text, std::size_t fallback) noexcept;

}  // namespace green::detail
