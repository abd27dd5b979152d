// Name resolution hooks: glibc resolves through NSS modules and internal calls that no
// hook sees (and that may block for seconds on DNS), so each call runs on a real helper
// thread (Hub::offload) while the calling greenlet parks and the others run. NSS
// behaviour and results are exactly glibc's.
//
// gethostbyname/gethostbyaddr return glibc's static buffer, as they always did: they are
// as thread-unsafe under greenshim as without it.
#include "hook.hpp"

using namespace green::shim;

namespace {

template <class Call>
auto offloaded(Call call) -> decltype(call()) {
  green::detail::Hub* hub = green_context();
  if (hub == nullptr) return call();
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
