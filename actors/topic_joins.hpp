#pragma once
// Joining topic actors, for any actor that feeds a stream (a topic stream's connection, a durable
// session's stream): through the registry, one join per pattern. The joiner becomes a member of
// each topic (the topic monitors it: its exit is the topic's cleanup) and monitors each topic (a
// crashed topic ends its stream with a retry). This is where the per-topic subscriber limit
// (topic_full) applies to every kind of stream.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/messages.hpp"

namespace herald {

/// Joins the topics of `patterns` for `self`. `joined` gets each topic, `done` runs once all are
/// joined, `failed` once, on the first refusal (nothing more runs after it).
template <class Self>
void join_topics(Self* self, const caf::actor& registry, const std::vector<std::string>& patterns,
                 std::function<void(const caf::actor&)> joined, std::function<void()> done,
                 std::function<void(caf::error&)> failed) {
  if (patterns.empty())
    return done();
  struct progress {
    std::size_t left;
    bool failed = false;
  };
  auto p = std::make_shared<progress>(progress{patterns.size()});
  for (auto& pattern : patterns)
    self->request(registry, caf::infinite, join_atom::value, pattern)
      .then(
        [=](const caf::actor& t) {
          if (p->failed)
            return;
          self->monitor(t);
          joined(t);
          if (--p->left == 0)
            done();
        },
        [=](caf::error& err) {
          if (p->failed)
            return;
          p->failed = true;
          failed(err);
        });
}

} // namespace herald
