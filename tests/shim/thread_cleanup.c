/* The C side of thread_cleanup_test.cpp. It is compiled as C without -fexceptions, as
 * most C programs are, so its pthread_cleanup_push is glibc's setjmp-based one: only
 * glibc's forced unwind (pthread_exit, an acted-on cancel) runs these handlers. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "thread_cleanup.h"

static void note(cleanup_log* log, char c) {
  size_t n = strlen(log->trail);
  if (n + 1 < sizeof log->trail) {
    log->trail[n] = c;
    log->trail[n + 1] = '\0';
  }
}
static void note_a(void* log) { note(log, 'A'); }
static void note_b(void* log) { note(log, 'B'); }
static void note_c(void* log) { note(log, 'C'); }

/* A handler that blocks in a cancellation point of its own while the cancel unwinds. */
static void note_after_sleep(void* log) {
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  note(log, 'S');
}

static void exit_from_inner(cleanup_log* log) {
  pthread_cleanup_push(note_c, log);
  pthread_exit((void*)42);
  pthread_cleanup_pop(0);
}

void* cleanup_exit_nested(void* arg) {
  cleanup_log* log = arg;
  pthread_cleanup_push(note_a, log);
  pthread_cleanup_push(note_b, log);
  exit_from_inner(log);
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(0);
  note(log, 'X'); /* never reached */
  return NULL;
}

void* cleanup_pop_runs(void* arg) {
  cleanup_log* log = arg;
  pthread_cleanup_push(note_a, log);
  pthread_cleanup_push(note_b, log);
  pthread_cleanup_pop(1);
  pthread_cleanup_pop(0);
  return (void*)7;
}

void* cleanup_cancel_in_read(void* arg) {
  cleanup_log* log = arg;
  char c;
  pthread_cleanup_push(note_a, log);
  pthread_cleanup_push(note_after_sleep, log);
  log->started = 1;
  (void)!read(log->fd, &c, 1);
  note(log, 'X');
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(0);
  return NULL;
}

void* cleanup_cancel_when_enabled(void* arg) {
  cleanup_log* log = arg;
  struct timespec ts = {0, 100 * 1000 * 1000};
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  pthread_cleanup_push(note_a, log);
  log->started = 1;
  nanosleep(&ts, NULL); /* not cut short: the request waits */
  note(log, 'W');
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
  pthread_testcancel();
  note(log, 'X');
  pthread_cleanup_pop(0);
  return NULL;
}

/* Asynchronous cancel type, then a loop with no call at all (a thread that deadlocked
 * itself spinning): the cancel must end it anyway and run A. Never returns. */
void* cleanup_cancel_async_spin(void* arg) {
  cleanup_log* log = arg;
  pthread_cleanup_push(note_a, log);
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  log->started = 1;
  for (;;) log->spins = log->spins + 1;
  pthread_cleanup_pop(0);
  return NULL;
}

/* A request pending while cancellation is disabled becomes due when the thread turns the
 * asynchronous type on: it ends there (A runs), before noting X. */
void* cleanup_cancel_async_pending(void* arg) {
  cleanup_log* log = arg;
  pthread_cleanup_push(note_a, log);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  log->started = 1;
  while (!log->go) {
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  note(log, 'X');
  pthread_cleanup_pop(0);
  return NULL;
}

/* Asynchronous cancel type, then a relock of its own NORMAL mutex: it deadlocked itself.
 * The cancel must end it there anyway and run A. */
void* cleanup_cancel_async_deadlock(void* arg) {
  cleanup_log* log = arg;
  pthread_mutex_t m;
  pthread_mutex_init(&m, NULL);
  pthread_cleanup_push(note_a, log);
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  pthread_mutex_lock(&m);
  log->started = 1;
  pthread_mutex_lock(&m);
  note(log, 'X');
  pthread_cleanup_pop(0);
  return NULL;
}
