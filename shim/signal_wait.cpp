// Waits for signals, per thread: pause, sigsuspend and the sigwait family park the calling
// greenlet thread until a handler ran in it, or until a signal of the set is pending for
// it (its own, the process's, or one the kernel holds because every thread blocks it,
// watched through a signalfd).
#include <sys/signalfd.h>
#include <unistd.h>

#include "park.hpp"
#include "signal_state.hpp"

using namespace green::shim;
namespace gd = green::detail;

namespace {

int fail(int e) {
  errno = e;
  return -1;
}

// Another thread or a signal handler ends these waits: never counted as blocked forever.
constexpr gd::ParkPolicy kSignalWait{true, gd::Eintr::always, true};

// Parks until a handler has run in the calling thread (Wake::signaled). A pending kill
// or cancellation is thrown.
void park_until_handled(gd::Hub* hub) {
  for (;;) {
    const gd::Wake w = hub->park(gd::kNoDeadline, kSignalWait);
    if (w == gd::Wake::signaled) return;
    if (w == gd::Wake::interrupted) gd::raise_for(w);
  }
}

struct SignalFd {
  int fd = -1;
  ~SignalFd() {
    if (fd >= 0) {
      gd::NoHooks off;
      ::close(fd);
    }
  }
};

}  // namespace

GREEN_HOOK(int, pause, ()) {
  GREEN_COOPERATE(pause);
  if (current_sig_ctx() == nullptr) return REAL(pause)();
  park_until_handled(hub);
  return fail(EINTR);
}

GREEN_HOOK(int, sigsuspend, (const sigset_t* mask)) {
  GREEN_COOPERATE(sigsuspend, mask);
  if (current_sig_ctx() == nullptr) return REAL(sigsuspend)(mask);
  // The handlers run with `mask` as the thread's, which comes back once they have.
  const MaskDuring during(mask);
  if (!during.handled) park_until_handled(hub);
  return fail(EINTR);
}

GREEN_HOOK(int, sigtimedwait, (const sigset_t* set, siginfo_t* info, const struct timespec* ts)) {
  GREEN_COOPERATE(sigtimedwait, set, info, ts);
  SigCtx* c = current_sig_ctx();
  if (c == nullptr) return REAL(sigtimedwait)(set, info, ts);
  if (ts != nullptr && !valid_timespec(*ts)) return fail(EINVAL);
  const gd::Deadline deadline = ts ? gd::now_ns() + timespec_ns(*ts) : gd::kNoDeadline;
  const std::uint64_t want = bits_of(*set) & ~kUnblockable;
  SignalFd sfd;
  for (;;) {
    siginfo_t got{};
    if (const int s = take_pending(*c, want, &got)) {
      if (info != nullptr) *info = got;
      return s;
    }
    static const timespec zero{0, 0};
    const int r = REAL(sigtimedwait)(set, &got, &zero);
    if (r > 0 && hub->is_preempt_tick(&got)) continue;  // the kernel held greenshim's own tick
    if (r > 0) {
      if (info != nullptr) *info = got;
      return r;
    }
    if (deadline != gd::kNoDeadline && gd::now_ns() >= deadline) return fail(EAGAIN);
    if (sfd.fd < 0) {
      gd::NoHooks off;
      sfd.fd = ::signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
      if (sfd.fd < 0) return -1;
    }
    c->waiting = want;  // a signal of the set sent to the process comes here first
    const gd::Wake w = hub->wait_fd(sfd.fd, 1, deadline, nullptr, kSignalWait);
    c->waiting = 0;
    if (w == gd::Wake::signaled) return fail(EINTR);
    if (w == gd::Wake::interrupted) gd::raise_for(w);
  }
}

GREEN_HOOK(int, sigwaitinfo, (const sigset_t* set, siginfo_t* info)) { return sigtimedwait(set, info, nullptr); }

GREEN_HOOK(int, sigwait, (const sigset_t* set, int* sig)) {
  GREEN_COOPERATE(sigwait, set, sig);
  int r;
  do {
    r = sigtimedwait(set, nullptr, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno;
  *sig = r;
  return 0;
}
