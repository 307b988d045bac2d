// raw_hub: the raw limit for the benchmarks, a bare single-threaded epoll SSE broadcaster with no
// storage, no auth and no actors. It speaks nchan's benchmark API (what sse_load --target nchan
// drives): GET /sub/<topic> opens an SSE stream; POST /pub/<topic> publishes its body as one
// event, answered 201. It does what a hub cannot do less than: every event is serialized once;
// the requests of one read (pipelined) are parsed back to back, their events appended to each
// subscriber's buffer, and each subscriber then gets one write for all of them; a subscriber
// whose socket is full keeps the rest until it is writable.
//
//   raw_hub --port 8090
//
// One thread (a hub's fan-out cost per core). Not a product: no limits on what it buffers, and
// malformed requests close the connection.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

struct conn {
  int fd = -1;
  bool subscriber = false;
  std::string in;      // bytes read, not yet a whole request
  std::string out;     // bytes to write (answers, or a subscriber's frames)
  bool want_out = false; // EPOLLOUT armed
};

int ep = -1;
std::unordered_map<int, conn> conns;
std::unordered_map<std::string, std::vector<int>> topics; // topic -> subscriber fds
std::vector<int> touched;                                 // subscribers with new frames
unsigned long long next_id = 1;

void arm(conn& c, bool out) {
  if (c.want_out == out)
    return;
  c.want_out = out;
  epoll_event ev{};
  ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
  ev.data.fd = c.fd;
  epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
}

void drop(int fd) {
  auto it = conns.find(fd);
  if (it == conns.end())
    return;
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  conns.erase(it);
  for (auto& [t, subs] : topics)
    for (auto& s : subs)
      if (s == fd) {
        s = subs.back();
        subs.pop_back();
        break;
      }
}

/// Writes what `c` holds; false if the connection failed.
bool flush(conn& c) {
  while (!c.out.empty()) {
    ssize_t n = write(c.fd, c.out.data(), c.out.size());
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      arm(c, true);
      return true;
    }
    if (n <= 0)
      return false;
    c.out.erase(0, static_cast<size_t>(n));
  }
  arm(c, false);
  return true;
}

/// Handles every whole request in `c.in`; false to close the connection.
bool handle(conn& c) {
  for (;;) {
    auto he = c.in.find("\r\n\r\n");
    if (he == std::string::npos)
      return c.in.size() < 65536;
    std::string_view head{c.in.data(), he};
    size_t len = 0;
    for (auto key : {"Content-Length: ", "content-length: "})
      if (auto at = head.find(key); at != std::string_view::npos)
        len = std::strtoul(head.data() + at + std::strlen(key), nullptr, 10);
    if (c.in.size() < he + 4 + len)
      return true;
    auto sp = head.find(' ');
    auto sp2 = head.find(' ', sp + 1);
    if (sp == std::string_view::npos || sp2 == std::string_view::npos)
      return false;
    std::string_view method = head.substr(0, sp), target = head.substr(sp + 1, sp2 - sp - 1);
    if (method == "GET" && target.rfind("/sub/", 0) == 0) {
      topics[std::string{target.substr(5)}].push_back(c.fd);
      c.subscriber = true;
      c.out += "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
               "Connection: keep-alive\r\n\r\n";
      c.in.clear();
      touched.push_back(c.fd);
      return true;
    }
    if (method == "POST" && target.rfind("/pub/", 0) == 0) {
      std::string_view body{c.in.data() + he + 4, len};
      // The event's frame, once, appended to every subscriber's buffer.
      std::string frame = "id: " + std::to_string(next_id++) + "\ndata: ";
      frame.append(body);
      frame += "\n\n";
      if (auto it = topics.find(std::string{target.substr(5)}); it != topics.end())
        for (int fd : it->second) {
          auto& s = conns[fd];
          if (s.out.empty())
            touched.push_back(fd);
          s.out += frame;
        }
      c.out += "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    } else {
      c.out += "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    }
    c.in.erase(0, he + 4 + len);
  }
}

} // namespace

int main(int argc, char** argv) {
  int port = 8090;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string_view{argv[i]} == "--port")
      port = std::atoi(argv[i + 1]);
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(lfd, 4096) != 0) {
    perror("listen");
    return 1;
  }
  ep = epoll_create1(0);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  std::vector<epoll_event> evs(1024);
  static char buf[1 << 16];
  for (;;) {
    int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          conns[c].fd = c;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end())
        continue;
      auto& c = it->second;
      if (evs[i].events & EPOLLOUT) {
        if (!flush(c)) {
          drop(fd);
          continue;
        }
      }
      if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        continue;
      ssize_t r = read(fd, buf, sizeof(buf));
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
          continue;
        drop(fd);
        continue;
      }
      if (c.subscriber)
        continue; // subscribers send nothing more
      c.in.append(buf, static_cast<size_t>(r));
      bool ok = handle(c);
      if (!c.subscriber && !c.out.empty() && !flush(c))
        ok = false;
      if (!ok) {
        drop(fd);
        continue;
      }
    }
    // One write per subscriber for everything this round published to it.
    for (int fd : touched) {
      auto it = conns.find(fd);
      if (it != conns.end() && !it->second.want_out && !flush(it->second))
        drop(fd);
    }
    touched.clear();
  }
}
