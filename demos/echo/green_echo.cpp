// green_echo: the threaded echo server written for opt-in linking (-lgreenshim): one
// greenlet per connection, spawned into a green::Pool that bounds how many run at once,
// using plain blocking socket calls made cooperative by green::patch_all().
//
// usage: green_echo [port] [max-connections]   (port 0: any free port)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <green/green.hpp>

namespace {

void serve(int fd) {
  char buf[16384];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    // write() completes under the shim as libc's blocking write would.
    if (write(fd, buf, static_cast<size_t>(n)) != n) break;
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 0;
  const int max_conns = argc > 2 ? std::atoi(argv[2]) : 100000;
  green::patch_all();
  std::signal(SIGPIPE, SIG_IGN);
  const int ls = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 4096) != 0) {
    std::perror("green_echo: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  green::Pool pool(static_cast<size_t>(max_conns));
  for (;;) {
    const int fd = accept(ls, nullptr, nullptr);
    if (fd < 0) {
      green::sleep(std::chrono::milliseconds(1));  // EMFILE and friends: let others finish
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pool.spawn(serve, fd);  // parks while max-connections are being served
  }
}
