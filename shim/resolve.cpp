// Name resolution hooks. glibc resolves through NSS modules, whose DNS client waits in
// poll, recvfrom, connect, writev and read: calls that reach the hooks once glibc's
// entries are rerouted (libc_entry.cpp). A greenlet thread then resolves in itself, with
// its own resolver state (_res, which the program may have set up), and parks on its
// sockets while the others run: no helper thread. Where that cannot be, the call runs on a
// real helper thread (Hub::offload) while the caller parks: an API greenlet (green::spawn),
// which shares its OS thread's TLS and so its resolver context with the main greenlet, or
// a glibc whose entries could not all be rerouted. NSS behaviour and results are exactly
// glibc's either way.
//
// gethostbyname/gethostbyaddr return glibc's static buffer, as they always did: they are
// as thread-unsafe under greenshim as without it.
#include "hook.hpp"
#include "libc_entry.hpp"

using namespace green::shim;

namespace {

template <class Call>
auto offloaded(Call call) -> decltype(call()) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr) return call();
  const green::detail::GreenletImpl* g = hub->running();
  if (resolver_cooperates() && (g->owns_tls() || g == hub->main_greenlet())) {
    // A lookup is a blocking call to the program: one answered from /etc/hosts without
    // waiting still lets the others run once, as the helper thread's park did.
    const auto result = call();
    const int err = errno, h_err = h_errno;
    hub->yield();
    errno = err;
    h_errno = h_err;
    return result;
  }
  decltype(call()) result{};
  int err = 0;
  int h_err = 0;
  hub->offload([&] {
    result = call();
    err = errno;
    h_err = h_errno;
  });
  errno = err;
  h_errno = h_err;
  return result;
}

}  // namespace

GREEN_HOOK(int, getaddrinfo, (const char* node, const char* service, const struct addrinfo* hints,
                              struct addrinfo** res)) {
  return offloaded([&] { return REAL(getaddrinfo)(node, service, hints, res); });
}

GREEN_HOOK(int, getnameinfo, (const struct sockaddr* addr, socklen_t alen, char* host, socklen_t hlen,
                              char* serv, socklen_t slen, int flags)) {
  return offloaded([&] { return REAL(getnameinfo)(addr, alen, host, hlen, serv, slen, flags); });
}

GREEN_HOOK(struct hostent*, gethostbyname, (const char* name)) {
  return offloaded([&] { return REAL(gethostbyname)(name); });
}

GREEN_HOOK(int, gethostbyname_r, (const char* name, struct hostent* ret, char* buf, size_t len,
                                  struct hostent** result, int* h_errnop)) {
  return offloaded([&] { return REAL(gethostbyname_r)(name, ret, buf, len, result, h_errnop); });
}

GREEN_HOOK(struct hostent*, gethostbyaddr, (const void* addr, socklen_t len, int type)) {
  return offloaded([&] { return REAL(gethostbyaddr)(addr, len, type); });
}
