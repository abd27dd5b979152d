// Twin of seed 002 "Greenlet State": started, ready(), successful(), value and exception of
// a winner and a loser. Python's True/False/None are printed as such; the runtime reports
// the loser's failure on stderr, as gevent prints its traceback.
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include <green/green.hpp>

namespace {

std::string win() { return "You win!"; }

// Declared to return what win() does, so that loser.value() exists, empty (None).
std::string fail() { throw std::runtime_error("You fail at failing."); }

const char* py(bool b) { return b ? "True" : "False"; }

std::string py(const std::optional<std::string>& v) { return v ? *v : "None"; }

std::string py(const std::exception_ptr& e) {
  if (!e) return "None";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "(unknown exception)";
  }
}

}  // namespace

int main() {
  auto winner = green::spawn(win);
  auto loser = green::spawn(fail);

  std::puts(py(winner.started()));  // True
  std::puts(py(loser.started()));   // True

  // Exceptions raised in the Greenlet, stay inside the Greenlet.
  try {
    green::joinall({winner, loser});
  } catch (const std::exception&) {
    std::puts("This will never be reached");
  }

  std::puts(py(winner.value()).c_str());  // 'You win!'
  std::puts(py(loser.value()).c_str());   // None

  std::puts(py(winner.ready()));  // True
  std::puts(py(loser.ready()));   // True

  std::puts(py(winner.successful()));  // True
  std::puts(py(loser.successful()));   // False

  // The exception raised in fail will not propagate outside the greenlet.
  std::puts(py(loser.exception()).c_str());

  // It is possible though to raise the exception again outside with loser.get().
}
