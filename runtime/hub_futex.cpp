// Kernel futex waits for greenlets (Hub::futex_wait): the greenlet parks while the hub's
// io_uring holds a real futex waiter on the word (IORING_OP_FUTEX_WAIT, Linux 6.7), so that
// a FUTEX_WAKE from any thread or process (glibc's sem_post, pthread_mutex_unlock in
// another process) ends the wait. The ring's fd is watched by the hub's loop; each
// completion names the wait it ends.
//
// Only the raw system calls are used: liburing is not a dependency of the library.
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <ev.h>

#include "hub.hpp"

namespace green::detail {

namespace {

// Newer than the kernel headers Debian 12 ships.
constexpr std::uint8_t kOpFutexWait = 51;
constexpr std::uint32_t kFutex2SizeU32 = 0x02;
constexpr std::uint32_t kFutex2Private = FUTEX_PRIVATE_FLAG;
constexpr unsigned kEntries = 256;

// A wait in flight: on the waiting greenlet's stack, named by its completion.
struct FutexWaitEntry {
  GreenletImpl* g;
  bool done = false;
  int res = 0;
};

}  // namespace

struct Hub::Futexes {
  int fd = -1;
  bool failed = false;  // no io_uring, or no futex waits in it: callers poll instead
  ev_io watcher;
  void* sq_ring = nullptr;
  std::size_t sq_ring_size = 0;
  void* cq_ring = nullptr;
  std::size_t cq_ring_size = 0;
  io_uring_sqe* sqes = nullptr;
  std::size_t sqes_size = 0;
  unsigned* sq_head;
  unsigned* sq_tail;
  unsigned* sq_mask;
  unsigned* sq_array;
  unsigned* cq_head;
  unsigned* cq_tail;
  unsigned* cq_mask;
  io_uring_cqe* cqes;
  int outstanding = 0;  // submitted waits not yet completed

  static long enter(int fd, unsigned submit, unsigned wait) noexcept {
    NoHooks off;
    return ::syscall(__NR_io_uring_enter, fd, submit, wait, wait != 0 ? IORING_ENTER_GETEVENTS : 0, nullptr, 0);
  }

  // Maps the rings of a new io_uring; false (and nothing kept) on failure.
  bool open() noexcept {
    io_uring_params p{};
    NoHooks off;
    fd = static_cast<int>(::syscall(__NR_io_uring_setup, kEntries, &p));
    if (fd < 0) return false;
    sq_ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_ring_size = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    const bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && cq_ring_size > sq_ring_size) sq_ring_size = cq_ring_size;
    sq_ring = mmap(nullptr, sq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (sq_ring == MAP_FAILED) return close_all();
    cq_ring = single ? sq_ring
                     : mmap(nullptr, cq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (cq_ring == MAP_FAILED) return close_all();
    sqes_size = p.sq_entries * sizeof(io_uring_sqe);
    sqes = static_cast<io_uring_sqe*>(
        mmap(nullptr, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES));
    if (sqes == MAP_FAILED) return close_all();
    auto* sq = static_cast<char*>(sq_ring);
    auto* cq = static_cast<char*>(cq_ring);
    sq_head = reinterpret_cast<unsigned*>(sq + p.sq_off.head);
    sq_tail = reinterpret_cast<unsigned*>(sq + p.sq_off.tail);
    sq_mask = reinterpret_cast<unsigned*>(sq + p.sq_off.ring_mask);
    sq_array = reinterpret_cast<unsigned*>(sq + p.sq_off.array);
    cq_head = reinterpret_cast<unsigned*>(cq + p.cq_off.head);
    cq_tail = reinterpret_cast<unsigned*>(cq + p.cq_off.tail);
    cq_mask = reinterpret_cast<unsigned*>(cq + p.cq_off.ring_mask);
    cqes = reinterpret_cast<io_uring_cqe*>(cq + p.cq_off.cqes);
    return true;
  }

  bool close_all() noexcept {
    if (sqes != nullptr && sqes != MAP_FAILED) munmap(sqes, sqes_size);
    if (cq_ring != nullptr && cq_ring != MAP_FAILED && cq_ring != sq_ring) munmap(cq_ring, cq_ring_size);
    if (sq_ring != nullptr && sq_ring != MAP_FAILED) munmap(sq_ring, sq_ring_size);
    sqes = nullptr;
    cq_ring = sq_ring = nullptr;
    if (fd >= 0) {
      NoHooks off;
      ::close(fd);
    }
    fd = -1;
    return false;
  }

  // Queues one entry and submits it. The SQ never fills: each wait has at most two
  // entries in flight and the kernel takes them at once.
  bool submit(const io_uring_sqe& e) noexcept {
    const unsigned tail = *sq_tail;
    const unsigned head = std::atomic_ref<unsigned>(*sq_head).load(std::memory_order_acquire);
    if (tail - head >= kEntries) return false;
    const unsigned i = tail & *sq_mask;
    sqes[i] = e;
    sq_array[i] = i;
    std::atomic_ref<unsigned>(*sq_tail).store(tail + 1, std::memory_order_release);
    return enter(fd, 1, 0) == 1;
  }

  static io_uring_sqe futex_wait_sqe(std::uint32_t* addr, std::uint32_t expected, bool shared, void* tag) noexcept {
    io_uring_sqe e{};
    e.opcode = kOpFutexWait;
    e.addr = reinterpret_cast<std::uintptr_t>(addr);
    e.addr2 = expected;
    e.addr3 = FUTEX_BITSET_MATCH_ANY;
    e.fd = static_cast<int>(kFutex2SizeU32 | (shared ? 0 : kFutex2Private));
    e.user_data = reinterpret_cast<std::uintptr_t>(tag);
    return e;
  }

  // Hands each completion to its wait; a cancel's own completion (tag 0) is dropped.
  void drain(Hub& hub) noexcept {
    unsigned head = *cq_head;
    const unsigned tail = std::atomic_ref<unsigned>(*cq_tail).load(std::memory_order_acquire);
    for (; head != tail; ++head) {
      const io_uring_cqe& c = cqes[head & *cq_mask];
      if (c.user_data == 0) continue;
      auto* w = reinterpret_cast<FutexWaitEntry*>(c.user_data);
      w->done = true;
      w->res = c.res;
      --outstanding;
      hub.wake_here(w->g, Wake::notified);
    }
    std::atomic_ref<unsigned>(*cq_head).store(head, std::memory_order_release);
    if (outstanding == 0) ev_io_stop(hub.loop_, &watcher);
  }

  // Whether this kernel's io_uring waits on futexes: a wait on a word that does not hold
  // the expected value completes at once with EAGAIN where it does, EINVAL where not.
  bool probe() noexcept {
    std::uint32_t word = 1;
    FutexWaitEntry w{nullptr};
    if (!submit(futex_wait_sqe(&word, 0, false, &w))) return false;
    if (enter(fd, 0, 1) < 0) return false;
    const unsigned head = *cq_head;
    if (head == std::atomic_ref<unsigned>(*cq_tail).load(std::memory_order_acquire)) return false;
    const int res = cqes[head & *cq_mask].res;
    std::atomic_ref<unsigned>(*cq_head).store(head + 1, std::memory_order_release);
    return res == -EAGAIN;
  }
};

bool Hub::futexes_ready() noexcept {
  if (futexes_ == nullptr) {
    futexes_ = new Futexes;
    if (!futexes_->open() || !futexes_->probe()) {
      futexes_->close_all();
      futexes_->failed = true;
      return false;
    }
    ev_io_init(&futexes_->watcher, [](struct ev_loop*, ev_io* io, int) {
      auto* hub = static_cast<Hub*>(io->data);
      hub->futexes_->drain(*hub);
    }, futexes_->fd, EV_READ);
    futexes_->watcher.data = this;
  }
  return !futexes_->failed;
}

Wake Hub::futex_wait(std::uint32_t* addr, std::uint32_t expected, bool shared, Deadline deadline,
                     ParkPolicy policy) noexcept {
  if (!futexes_ready()) return Wake::none;
  Futexes& f = *futexes_;
  FutexWaitEntry w{current_};
  if (!f.submit(Futexes::futex_wait_sqe(addr, expected, shared, &w))) return Wake::none;
  if (f.outstanding++ == 0) ev_io_start(loop_, &f.watcher);  // an active watcher: no LoopExit
  Wake r = park(deadline, policy);
  if (!w.done) {
    // Ended otherwise (the deadline, an interruption): take the kernel's waiter back, and
    // wait for its completion, which names this stack.
    io_uring_sqe cancel{};
    cancel.opcode = IORING_OP_ASYNC_CANCEL;
    cancel.addr = reinterpret_cast<std::uintptr_t>(&w);
    cancel.user_data = 0;
    f.submit(cancel);
    while (!w.done) park(kNoDeadline, kUninterruptible);
    // Woken by the futex after all: that wake counts (a post is not lost).
    if (w.res == 0 && r == Wake::timed_out) r = Wake::notified;
  } else if (r == Wake::none) {
    r = Wake::notified;
  }
  return r;
}

void Hub::futexes_close() noexcept {
  if (futexes_ == nullptr) return;
  if (!futexes_->failed) {
    ev_io_stop(loop_, &futexes_->watcher);
    futexes_->close_all();
  }
  delete futexes_;
  futexes_ = nullptr;
}

}  // namespace green::detail
