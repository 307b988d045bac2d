#define CAF_SUITE stream_item
#include <caf/test/unit_test.hpp>

#include <thread>

#include "delivery/item.hpp"
#include "delivery/outbound_queue.hpp"
#include "net/sse_encoding.hpp"
#include "tests/unit/test_support.hpp"

using namespace herald;

CAF_TEST(every kind renders as sse) {
  // A frame lives as long as its item: keep the items while checking (CAF's checks hold
  // references to their arguments).
  auto typed = stream_item::make_event(7, "e-7", "a/b", "created", "{\"x\":1}");
  auto untyped = stream_item::make_event(8, "e-8", "a/b", "", "2");
  auto gap = stream_item::make_notice("herald.gap", "{}");
  auto retry = stream_item::make_retry(2500);
  auto beat = stream_item::make_heartbeat();
  CAF_CHECK_EQUAL(sse_frame(*typed), "id: e-7\nevent: created\ndata: {\"x\":1}\n\n");
  CAF_CHECK_EQUAL(sse_frame(*untyped), "id: e-8\ndata: 2\n\n");
  CAF_CHECK_EQUAL(sse_frame(*gap), "event: herald.gap\ndata: {}\n\n");
  CAF_CHECK_EQUAL(sse_frame(*retry), "retry: 2500\n\n");
  CAF_CHECK_EQUAL(sse_frame(*beat), ": heartbeat\n\n");
  auto sd = shutdown_items(1234);
  CAF_REQUIRE_EQUAL(sd.size(), 2u);
  CAF_CHECK_EQUAL(sse_frame(*sd[0]),
                  "event: herald.shutdown\ndata: {\"reason\":\"shutdown\",\"retry_ms\":1234}\n\n");
  CAF_CHECK_EQUAL(sse_frame(*sd[1]), "retry: 1234\n\n");
}

CAF_TEST(an event shared by many streams is serialized once) {
  auto ev = stream_item::make_event(1, "e-1", "t", "", "{\"n\":1}");
  std::vector<std::unique_ptr<outbound_queue>> queues;
  for (int i = 0; i < 100; ++i) {
    queues.push_back(std::make_unique<outbound_queue>(1 << 20, [] {}));
    queues.back()->accept({}, 0);
    queues.back()->push_replay({}, 0);
    queues.back()->push_live(ev);
  }
  auto before = stream_item::frames_built(encoding::sse);
  const std::string* first = nullptr;
  for (auto& q : queues) {
    std::vector<item_ptr> batch;
    auto r = q->take(batch);
    CAF_REQUIRE_EQUAL(batch.size(), 1u);
    auto& frame = sse_frame(*batch[0]);
    if (first == nullptr)
      first = &frame;
    CAF_CHECK_EQUAL(&frame, first); // the same bytes, not a copy
    q->written(r.bytes);
  }
  CAF_CHECK_EQUAL(stream_item::frames_built(encoding::sse) - before, 1u);
  CAF_CHECK_EQUAL(*first, "id: e-1\ndata: {\"n\":1}\n\n");
}

CAF_TEST(concurrent writers build the frame once) {
  auto ev = stream_item::make_event(2, "e-2", "t", "x", "[1,2,3]");
  auto before = stream_item::frames_built(encoding::sse);
  std::vector<std::thread> writers;
  std::vector<const std::string*> seen(4);
  for (int i = 0; i < 4; ++i)
    writers.emplace_back([&, i] { seen[i] = &sse_frame(*ev); });
  for (auto& t : writers)
    t.join();
  CAF_CHECK_EQUAL(stream_item::frames_built(encoding::sse) - before, 1u);
  for (auto* s : seen)
    CAF_CHECK_EQUAL(s, seen[0]);
}

CAF_TEST(queue bounds use size hints known before rendering) {
  auto small = stream_item::make_event(1, "e-1", "t", "", "1");
  auto big = stream_item::make_event(2, "e-2", "t", "", std::string(1000, 'x'));
  CAF_CHECK_LESS(small->size_hint(), 64u);
  CAF_CHECK_GREATER_OR_EQUAL(big->size_hint(), sse_frame(*big).size());
  CAF_CHECK_LESS(big->size_hint(), sse_frame(*big).size() + 32);
}
