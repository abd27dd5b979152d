/* What thread_cleanup.c's thread routines share with thread_cleanup_test.cpp. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char trail[32];       /* each handler that ran appends its letter */
  int fd;               /* what cleanup_cancel_in_read blocks on */
  volatile int started; /* set once the handlers are pushed */
  volatile int go;      /* set by the test: cleanup_cancel_async_pending goes on */
  volatile unsigned long spins;
} cleanup_log;

/* Handlers A, B, then C in a callee that calls pthread_exit(42): runs C, B, A. */
void* cleanup_exit_nested(void* log);
/* pthread_cleanup_pop(1) runs B at once; A is popped unrun; returns 7: trail "B". */
void* cleanup_pop_runs(void* log);
/* A, then S (which sleeps 20 ms before it notes): cancelled in read(), runs S, A. */
void* cleanup_cancel_in_read(void* log);
/* Cancellation disabled around a 100 ms sleep (noted W), then enabled and tested: "WA". */
void* cleanup_cancel_when_enabled(void* log);
/* Asynchronous cancel type, then a loop with no call: cancelled, runs A. */
void* cleanup_cancel_async_spin(void* log);
/* A request made while disabled, due once enabled with the asynchronous type: runs A only. */
void* cleanup_cancel_async_pending(void* log);
/* Asynchronous cancel type, then a relock of its own mutex (a deadlock): cancelled, runs A. */
void* cleanup_cancel_async_deadlock(void* log);

#ifdef __cplusplus
}
#endif
