// What the third-party program tests share: a command run through the shell.
#pragma once

#include <array>
#include <cstdio>
#include <string>

namespace programs_test {

struct Ran {
  int status = -1;  // as pclose() reports it
  std::string out;  // its stdout
};

inline Ran run(const std::string& cmd) {
  Ran r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

}  // namespace programs_test
