// Publishes one event and receives it back through a subscriber: usage `consumer URL TOPIC`.
#include <iostream>

#include <herald/sdk.hpp>

int main(int argc, char** argv) {
  if (argc != 3)
    return 2;
  herald::sdk::subscriber_options so;
  so.url = argv[1];
  so.topics = {argv[2]};
  herald::sdk::subscriber sub{so};
  std::string got;
  sub.on_state([&](herald::sdk::stream_state s, const std::string&) {
    if (s == herald::sdk::stream_state::connected) {
      herald::sdk::publisher_options po;
      po.url = argv[1];
      herald::sdk::publisher pub{po};
      std::cout << "published " << pub.publish(argv[2], {{"hello", "find_package"}}) << std::endl;
    }
  });
  sub.on_event([&](const herald::sdk::event& e) {
    got = e.id + " " + e.data;
    sub.stop();
  });
  sub.run();
  std::cout << "received " << got << std::endl;
  return got.empty() ? 1 : 0;
}
