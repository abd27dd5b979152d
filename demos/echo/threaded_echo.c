/* threaded_echo: a plain thread-per-connection echo server — blocking accept, one
 * pthread_create per connection, blocking read/write. It knows nothing of greenshim:
 * it is the program `greenrun ./threaded_echo` converts.
 *
 * Built with -DECHO_STDIO it is stdio_echo: each connection reads its messages with
 * fread() from an fdopen()ed stream and writes them back with fwrite() and fflush(), so
 * glibc makes the reads and writes inside stdio, where no interposed symbol sees them
 * (greenshim's rerouted glibc entries do: shim/libc_entry.cpp).
 *
 * usage: threaded_echo [port]   (0 or none: any free port; prints "listening on PORT")
 *        stdio_echo [port] [message bytes, 1 to 4096; 64]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef ECHO_STDIO
static size_t message = 64;

static void* serve(void* arg) {
  int fd = (int)(long)arg;
  FILE* in = fdopen(fd, "r");
  FILE* out = fdopen(dup(fd), "w");
  char buf[4096];
  if (in != NULL && out != NULL) {
    while (fread(buf, 1, message, in) == message) {
      if (fwrite(buf, 1, message, out) != message || fflush(out) != 0) break;
    }
  }
  if (out != NULL) fclose(out);
  if (in != NULL) fclose(in);
  return NULL;
}
#else
static void* serve(void* arg) {
  int fd = (int)(long)arg;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0) goto done;
      off += w;
    }
  }
done:
  close(fd);
  return NULL;
}
#endif

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
#ifdef ECHO_STDIO
  if (argc > 2) message = (size_t)atoi(argv[2]);
  if (message == 0 || message > 4096) {
    fprintf(stderr, "stdio_echo: message bytes must be 1 to 4096\n");
    return 2;
  }
#endif
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons((unsigned short)port);
  if (bind(ls, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(ls, 4096) != 0) {
    perror("threaded_echo: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(ls, (struct sockaddr*)&addr, &len);
  printf("listening on %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) { usleep(1000); continue; }
      perror("threaded_echo: accept");
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    int rc = pthread_create(&t, &attr, serve, (void*)(long)fd);
    if (rc != 0) {
      fprintf(stderr, "threaded_echo: pthread_create: %s\n", strerror(rc));
      close(fd);
    }
  }
}
