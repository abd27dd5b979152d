// The exceptions the API throws. The shim never throws: it maps these to errno.
#pragma once

#include <stdexcept>

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

// Thrown inside a greenlet by kill(); unwinding it ends the greenlet quietly.
// Deliberately not a std::exception, so `catch (const std::exception&)` does not swallow it.
struct GreenletExit {};

// Thrown in the main greenlet when it waits for something that can never happen.
struct LoopExit : std::runtime_error {
  LoopExit() : std::runtime_error("green: this operation would block forever") {}
};

// Thrown by a blocking call that outlived a Timeout scope or its own timeout argument.
// `source` is the Timeout that fired (nullptr for a timeout argument such as get(1s)).
struct TimeoutError : std::runtime_error {
  explicit TimeoutError(const void* src = nullptr)
      : std::runtime_error("green: timeout"), source(src) {}
  const void* source;
};

struct QueueEmpty : std::runtime_error {
  QueueEmpty() : std::runtime_error("green: queue is empty") {}
};
struct QueueFull : std::runtime_error {
  QueueFull() : std::runtime_error("green: queue is full") {}
};

}  // namespace green

#pragma GCC visibility pop
