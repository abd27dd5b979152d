// Scheduling calls on greenlet threads. A greenlet thread's policy and priority are its
// own, as a thread's are: checked as the kernel checks them (the policy, the priority's
// range, the privilege a real-time one needs), reported back, inherited by the threads it
// creates or taken from the creation attributes (PTHREAD_EXPLICIT_SCHED). They do not
// reach the kernel: one OS thread runs every greenlet of a hub, and its greenlets run in
// FIFO order whatever their priority (docs/limits.md).
//
// Affinity is the OS thread's: it acts on the hub's OS thread. The CPU-time clock is each
// thread's own (pthread_getcpuclockid, CLOCK_THREAD_CPUTIME_ID): the hub counts each
// greenlet's share of its OS thread's CPU time (Hub::cpu_time), from the first ask.
#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thread.hpp"

using namespace green::shim;

namespace {

bool has_cap_sys_nice() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (REAL(syscall)(SYS_capget, &hdr, data, 0, 0, 0, 0) != 0) return false;
  return (data[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))) != 0;
}

// What sched_setscheduler(2) would answer for `policy` and `p`, without applying it.
int check(int policy, const sched_param& p) {
  switch (policy) {
    case SCHED_OTHER:
    case SCHED_BATCH:
    case SCHED_IDLE:
      return p.sched_priority == 0 ? 0 : EINVAL;
    case SCHED_FIFO:
    case SCHED_RR: {
      if (p.sched_priority < sched_get_priority_min(policy) || p.sched_priority > sched_get_priority_max(policy)) {
        return EINVAL;
      }
      rlimit rt{};
      if (getrlimit(RLIMIT_RTPRIO, &rt) == 0 && static_cast<rlim_t>(p.sched_priority) <= rt.rlim_cur) return 0;
      return has_cap_sys_nice() ? 0 : EPERM;
    }
    default:
      return EINVAL;
  }
}

}  // namespace

namespace green::shim {

int init_thread_sched(GreenThread& t, const pthread_attr_t* attr) {
  int inherit = PTHREAD_INHERIT_SCHED;
  if (attr != nullptr) pthread_attr_getinheritsched(attr, &inherit);
  if (inherit == PTHREAD_EXPLICIT_SCHED) {
    int policy = SCHED_OTHER;
    sched_param p{};
    pthread_attr_getschedpolicy(attr, &policy);
    pthread_attr_getschedparam(attr, &p);
    if (const int e = check(policy, p)) return e;
    t.sched_policy = policy;
    t.sched = p;
  } else if (GreenThread* creator = current_thread()) {
    t.sched_policy = creator->sched_policy;
    t.sched = creator->sched;
  } else {
    REAL(pthread_getschedparam)(REAL(pthread_self)(), &t.sched_policy, &t.sched);
  }
  return 0;
}

}  // namespace green::shim

GREEN_HOOK(int, pthread_setschedparam, (pthread_t t, int policy, const struct sched_param* p)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_setschedparam)(t, policy, p);
  if (const int e = check(policy, *p)) return e;
  g->sched_policy = policy;
  g->sched = *p;
  return 0;
}

GREEN_HOOK(int, pthread_setschedprio, (pthread_t t, int prio)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_setschedprio)(t, prio);
  sched_param p{};
  p.sched_priority = prio;
  if (const int e = check(g->sched_policy, p)) return e;
  g->sched.sched_priority = prio;
  return 0;
}

GREEN_HOOK(int, pthread_getschedparam, (pthread_t t, int* policy, struct sched_param* p)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g) return greenlet_thread_id(t) ? ESRCH : REAL(pthread_getschedparam)(t, policy, p);
  *policy = g->sched_policy;
  *p = g->sched;
  return 0;
}

GREEN_HOOK(int, pthread_setaffinity_np, (pthread_t t, size_t n, const cpu_set_t* set)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g && greenlet_thread_id(t)) return ESRCH;
  return REAL(pthread_setaffinity_np)(g ? host_of(g) : t, n, set);
}

GREEN_HOOK(int, pthread_getaffinity_np, (pthread_t t, size_t n, cpu_set_t* set)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g && greenlet_thread_id(t)) return ESRCH;
  return REAL(pthread_getaffinity_np)(g ? host_of(g) : t, n, set);
}

namespace {

// glibc's encoding of a thread's CPU-time clock (MAKE_THREAD_CPUCLOCK): the complement of
// its kernel thread ID, shifted, with CPUCLOCK_SCHED and the per-thread bit.
constexpr clockid_t kThreadCpuClock = 2 | 4;
clockid_t thread_cpu_clock(pid_t tid) { return static_cast<clockid_t>((~static_cast<unsigned>(tid)) << 3) | kThreadCpuClock; }
bool is_thread_cpu_clock(clockid_t c) { return c < 0 && (c & 7) == kThreadCpuClock; }
pid_t tid_of_cpu_clock(clockid_t c) { return static_cast<pid_t>(~(static_cast<unsigned>(c) >> 3) & 0x1fffffff); }

timespec ns_timespec(std::int64_t ns) { return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; }

// The greenlet whose CPU clock `clock` is, on the calling hub (a greenlet thread, or the
// main thread by the hub's own ID), or nullptr: the kernel's clock.
green::detail::GreenletImpl* clock_owner(clockid_t clock, green::detail::Hub* hub) {
  if (hub == nullptr || !hooks_active || green::detail::tls_no_hooks != 0) return nullptr;
  if (clock == CLOCK_THREAD_CPUTIME_ID) return hub->in_hub_fiber() ? nullptr : hub->running();
  if (!is_thread_cpu_clock(clock)) return nullptr;
  const pid_t tid = tid_of_cpu_clock(clock);
  if (tid == hub->os_tid()) return hub->main_greenlet();
  auto t = find_thread_by_tid(tid);
  return t && t->hub() == hub ? t.get() : nullptr;  // another hub's: not countable here
}

}  // namespace

GREEN_HOOK(int, pthread_getcpuclockid, (pthread_t t, clockid_t* clock)) {
  GREEN_BOOKKEEPING();
  auto g = find_thread(t);
  if (!g && greenlet_thread_id(t)) return ESRCH;
  if (!g) return REAL(pthread_getcpuclockid)(t, clock);
  *clock = thread_cpu_clock(g->tid);
  return 0;
}

GREEN_HOOK(int, clock_gettime, (clockid_t clock, struct timespec* ts)) {
  // Every clock but a thread's CPU clock, at once: this is a hot call.
  if (__builtin_expect(clock != CLOCK_THREAD_CPUTIME_ID && !is_thread_cpu_clock(clock), 1) ||
      green::detail::tls_hub == nullptr) {
    GREEN_BOOKKEEPING();
    return REAL(clock_gettime)(clock, ts);
  }
  GREEN_BOOKKEEPING();
  green::detail::Hub* hub = green::detail::Hub::current_if_exists();
  green::detail::GreenletImpl* g = clock_owner(clock, hub);
  if (g == nullptr) return REAL(clock_gettime)(clock, ts);
  *ts = ns_timespec(hub->cpu_time(g));
  return 0;
}
