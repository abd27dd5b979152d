#include "real.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace green::shim {

RealTable real_table;

extern bool real_resolved;

void resolve_real() noexcept {
  if (real_resolved) return;
#define GREEN_REAL(ret, name, params)                                                \
  real_table.name = reinterpret_cast<ret(*) params>(dlsym(RTLD_NEXT, #name));         \
  if (real_table.name == nullptr) {                                                  \
    std::fprintf(stderr, "greenshim: cannot resolve the real %s\n", #name);          \
    std::abort();                                                                    \
  }
#include "real.def"
#undef GREEN_REAL
  real_resolved = true;
}

}  // namespace green::shim
