// Opt-in patching for programs linked with -lgreenshim: until patch_all() every libc call
// greenshim interposes is exactly libc's. After it, blocking calls made by greenlets of a
// thread with a hub (the caller's thread gets one now) park on the hub instead.
#pragma once

// The API is what the library exports; everything else in it is hidden (Makefile).
#pragma GCC visibility push(default)

namespace green {

void patch_all();
bool patched() noexcept;

}  // namespace green

#pragma GCC visibility pop
