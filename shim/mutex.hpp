// Mutexes as greenlets see them, kept inside the caller's pthread_mutex_t so that static
// initializers and mutexes in shared structs just work (as MassiveThreads does).
//
// The lock word (__lock) follows glibc's protocol — 0 free, 1 locked, 2 locked with
// sleepers — so a real thread using glibc's own pthread_mutex_lock on the same mutex
// interoperates. The rest of the object holds what glibc cannot know:
//   __count       recursion depth
//   __owner       the kernel TID of the holder's OS thread (what glibc's checks read)
//   __list.__prev the greenlet holding it (kHandoff while a release hands it to a waiter)
//   __list.__next a WaitQueue of greenlets waiting for it, allocated at first contention
// Robust, priority-inheritance, priority-protect and process-shared mutexes: mutex.cpp.
#pragma once

#include <pthread.h>

#include "hook.hpp"

namespace green::shim {

// Whether greenshim handles this mutex for the caller (else: glibc's function).
bool green_mutex(const pthread_mutex_t* m) noexcept;
// Locks as the current greenlet; deadline kNoDeadline waits forever. Returns an errno
// value (0, EBUSY, ETIMEDOUT, EDEADLK, EAGAIN). Never a cancellation point.
int mutex_lock(pthread_mutex_t* m, detail::Deadline deadline, bool try_only);
int mutex_unlock(pthread_mutex_t* m);

}  // namespace green::shim
