// Twin of seed 002 "Actors": a Pinger and a Ponger, each a greenlet reading its inbox,
// bouncing a message forever. Departure: they stop after --count N messages (default 10):
// the actor that prints the last one sends nothing more, stops, and kills its peer.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <green/green.hpp>

using namespace std::chrono_literals;

namespace {

int messages_left = 10;

// gevent has no Actor type: the seed subclasses Greenlet and gives it a Queue inbox.
class Actor {
 public:
  virtual ~Actor() = default;

  void start() { greenlet_ = green::spawn([this] { run(); }); }
  const green::Greenlet<>& greenlet() const { return greenlet_; }

  green::Queue<std::string> inbox;
  Actor* peer = nullptr;

 protected:
  // Define in your subclass.
  virtual void receive(const std::string& message) = 0;

  // Prints the message; false once the last allowed message has been printed.
  bool count(const std::string& message) {
    std::puts(message.c_str());
    if (--messages_left > 0) return true;
    running_ = false;
    peer->greenlet().kill(false);
    return false;
  }

 private:
  void run() {
    running_ = true;
    while (running_) {
      const std::string message = inbox.get();
      receive(message);
    }
  }

  bool running_ = false;
  green::Greenlet<> greenlet_;
};

class Pinger : public Actor {
  void receive(const std::string& message) override {
    if (!count(message)) return;
    peer->inbox.put("ping");
    green::sleep(0s);
  }
};

class Ponger : public Actor {
  void receive(const std::string& message) override {
    if (!count(message)) return;
    peer->inbox.put("pong");
    green::sleep(0s);
  }
};

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--count") == 0) messages_left = std::atoi(argv[i + 1]);
  }

  Pinger ping;
  Ponger pong;
  ping.peer = &pong;
  pong.peer = &ping;

  ping.start();
  pong.start();

  ping.inbox.put("start");
  green::joinall({ping.greenlet(), pong.greenlet()});
}
