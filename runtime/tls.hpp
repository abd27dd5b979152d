// Thread-local storage of greenlet threads: each one made by pthread_create gets a TCB and
// static TLS of its own, laid out as glibc lays out a new thread's (TLS variant II: the
// TCB at the thread pointer, every module's static block below it, a DTV for the modules
// dlopen()ed later), at the top of its stack as glibc puts it.
//
// What glibc gives a new thread that its public API cannot give us is learnt once, from
// one short-lived real thread (the probe): the TCB's size, where its kernel thread ID sits
// (libthread_db's descriptors say, the probe checks), and which words of libc's TLS hold
// malloc's per-thread cache and the buffers libc allocates lazily. The rest comes from
// ld.so's own TLS entry points (_dl_allocate_tls, _dl_deallocate_tls), so the layout is
// ld.so's, whatever is loaded.
//
// malloc's per-thread cache (tcache) and arena belong to the OS thread, as Go's mcache
// belongs to its P: a greenlet thread uses its hub's. One per greenlet would cost every
// connection a cache, and glibc frees it only in its own thread exit.
#pragma once

#include <cstddef>

#include "green/detail/core.hpp"

namespace green::detail {
class Hub;
}

namespace green::detail::tls {

// Whether the CPU and kernel let user code write the FS base (wrfsbase); else every
// install is an arch_prctl system call.
extern bool fsgsbase GREEN_EXPORT;

// The calling context's thread pointer (what %fs points to: the TCB's self pointer).
inline void* current() noexcept {
  void* tp;
  asm volatile("mov %%fs:0, %0" : "=r"(tp));
  return tp;
}

// Makes `tp` the OS thread's thread pointer. Nothing between this and the fiber jump may
// touch TLS: until the jump, the code still runs as the greenlet it leaves.
inline void install(void* tp) noexcept {
  if (__builtin_expect(fsgsbase, 1)) {
    asm volatile("wrfsbase %0" : : "r"(tp) : "memory");
  } else {
    long rc;
    asm volatile("syscall"
                 : "=a"(rc)
                 : "0"(158L /* SYS_arch_prctl */), "D"(0x1002L /* ARCH_SET_FS */), "S"(tp)
                 : "rcx", "r11", "memory");
    (void)rc;
  }
}

// Whether greenlet threads can own their TLS here (the probe passed and ld.so has the
// entry points). The first call runs the probe; a failure is reported once on stderr, and
// greenlet threads then share their hub's TLS as API greenlets do.
bool available() noexcept;
// Bytes a greenlet thread's TLS takes at the top of its stack.
GREEN_EXPORT std::size_t area_size() noexcept;
// Lays out and initialises a new thread's TLS below `top` (the stack's highest address),
// for a greenlet of `hub`. Returns its thread pointer, or nullptr (out of memory).
void* create(void* top, Hub* hub) noexcept;
// What glibc does first on a new thread, on its own TLS (the ctype tables).
void thread_start() noexcept;
// What glibc does last on a thread, on its own TLS: C++ thread_local destructors
// (__cxa_thread_atexit_impl registrations). A destructor may call pthread_exit.
void run_thread_dtors();
// The calling greenlet thread's word where glibc chains C cleanup buffers
// (pthread_cleanup_push) and where its pthread_exit starts to unwind; nullptr if the probe
// did not find it.
void** cleanup_buffer_slot() noexcept;
// Then frees what libc allocated for it (error-string buffers, its resolver) and hands
// malloc's cache back to the hub.
void thread_end() noexcept;
// After the thread left its TLS for good (from another context): frees the dynamic TLS
// blocks of dlopen()ed modules, and keeps its DTV for `hub`'s next thread.
void destroy(void* tp, Hub* hub) noexcept;
// In a child after fork(): every TCB the child kept (its hub's `hub_tp` and its greenlet
// threads') still carries the parent's kernel thread ID.
void after_fork(void* hub_tp) noexcept;

}  // namespace green::detail::tls
