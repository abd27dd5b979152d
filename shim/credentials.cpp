// Credential hooks (setuid and its family): POSIX makes credentials per process, and glibc
// gets there by signalling every other thread it knows to make the same system call, then
// waiting for each. It skips THREAD_SELF, so it must run on the OS thread's own TCB, not a
// greenlet thread's: else it would wait for the calling OS thread itself, for ever.
#include <grp.h>
#include <unistd.h>

#include "hook.hpp"

using namespace green::shim;

#define GREEN_CREDENTIAL_HOOK(name, params, args)                 \
  GREEN_HOOK(int, name, params) {                                 \
    GREEN_BOOKKEEPING();                                          \
    return on_os_thread_tcb([&] { return REAL(name) args; });     \
  }

GREEN_CREDENTIAL_HOOK(setuid, (uid_t u), (u))
GREEN_CREDENTIAL_HOOK(setgid, (gid_t g), (g))
GREEN_CREDENTIAL_HOOK(seteuid, (uid_t u), (u))
GREEN_CREDENTIAL_HOOK(setegid, (gid_t g), (g))
GREEN_CREDENTIAL_HOOK(setreuid, (uid_t r, uid_t e), (r, e))
GREEN_CREDENTIAL_HOOK(setregid, (gid_t r, gid_t e), (r, e))
GREEN_CREDENTIAL_HOOK(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
GREEN_CREDENTIAL_HOOK(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
GREEN_CREDENTIAL_HOOK(setgroups, (size_t n, const gid_t* list), (n, list))
