// Hub::offload: a small pool of real threads for work no hook can make cooperative.
//
// Workers are plain OS threads with no hub, so every hook they hit goes straight to libc.
// A finished job is handed back through the hub's ev_async (the only libev call that is
// safe from another thread); the watcher keeps the loop alive only while jobs are out.
#include <ev.h>
#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "config.hpp"
#include "hub.hpp"

namespace green::detail {

namespace {

struct Job {
  std::function<void()> fn;
  Hub* hub;
  GreenletImpl* g;
  bool done = false;
};

class Workers {
 public:
  static Workers*& current() {
    static Workers* w = new Workers;  // never destroyed: detached threads use it at exit
    return w;
  }
  static Workers& instance() { return *current(); }
  void submit(Job* j, void (*finished)(Job*)) {
    InternalLock<std::mutex> lock(mu_);
    queue_.push_back({j, finished});
    if (idle_ == 0 && threads_ < max_threads()) {
      ++threads_;
      NoHooks guard;
      // Made with every signal blocked, so that it inherits a full mask and the kernel
      // never picks it for a signal meant for the program (a sigwait()ing thread).
      sigset_t all, old;
      sigfillset(&all);
      pthread_sigmask(SIG_SETMASK, &all, &old);
      std::thread([this] { work(); }).detach();
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    cv_.notify_one();
  }

 private:
  struct Item {
    Job* job;
    void (*finished)(Job*);
  };
  static unsigned max_threads() { return config().offload_threads; }
  void work() {
    // The runtime's own real thread: its waits and its jobs' calls are glibc's, as
    // submit()'s side of the condition variable is (InternalLock).
    NoHooks off;
    // Named, so that tools (and tests) can tell greenshim's helpers from the program's.
    pthread_setname_np(pthread_self(), "green-offload");
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [this] { return !queue_.empty(); });
      --idle_;
      Item it = queue_.front();
      queue_.pop_front();
      lock.unlock();
      it.job->fn();
      it.finished(it.job);
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  unsigned threads_ = 0;
  unsigned idle_ = 0;
};

}  // namespace

void Hub::offload_after_fork() noexcept {
  // The parent's workers (and maybe its locked mutex) are gone; start afresh.
  Workers::current() = new Workers;
}

struct Hub::Offloads {
  ev_async async;
  std::mutex mu;
  std::vector<Job*> finished;
  int outstanding = 0;
};

void Hub::offload(std::function<void()> fn) {
  if (!offloads_) {
    offloads_ = new Offloads;
    ev_async_init(&offloads_->async, [](struct ev_loop*, ev_async* w, int) {
      auto* hub = static_cast<Hub*>(w->data);
      std::vector<Job*> done;
      {
        InternalLock<std::mutex> lock(hub->offloads_->mu);
        done.swap(hub->offloads_->finished);
      }
      for (Job* j : done) {
        j->done = true;
        hub->wake(j->g, Wake::notified);
      }
    });
    offloads_->async.data = this;
    NoHooks guard;
    ev_async_start(loop_, &offloads_->async);
    ev_unref(loop_);  // an idle async watcher must not hide a deadlock
  }
  Job job{std::move(fn), this, current_};
  if (offloads_->outstanding++ == 0) ev_ref(loop_);
  Workers::instance().submit(&job, [](Job* j) {
    Hub* hub = j->hub;
    {
      InternalLock<std::mutex> lock(hub->offloads_->mu);
      hub->offloads_->finished.push_back(j);
    }
    ev_async_send(hub->loop_, &hub->offloads_->async);
  });
  // Not interruptible: a pending Timeout or kill would make every park return at once
  // (a spin that never lets the hub deliver the result); it is raised at the next
  // blocking call instead.
  while (!job.done) park(kNoDeadline, kUninterruptible);
  if (--offloads_->outstanding == 0) ev_unref(loop_);
}

}  // namespace green::detail
