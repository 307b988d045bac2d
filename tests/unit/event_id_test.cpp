#define CAF_SUITE event_id
#include <caf/test/unit_test.hpp>

#include "storage/event_id.hpp"

using namespace herald;

CAF_TEST(ids round trip) {
  auto text = format_event_id(0x5f3c2a19, 42);
  CAF_CHECK_EQUAL(text, "5f3c2a19-42");
  auto id = parse_event_id(text);
  CAF_REQUIRE(id);
  CAF_CHECK_EQUAL(id->epoch, 0x5f3c2a19u);
  CAF_CHECK_EQUAL(id->pos, 42u);
  CAF_CHECK_EQUAL(format_event_id(0, 0), "00000000-0");
}

CAF_TEST(malformed ids are rejected) {
  for (auto bad : {"", "42", "5f3c2a19", "5f3c2a19-", "5f3c2a1-42", "5F3C2A19-42",
                   "5f3c2a19-042", "5f3c2a19-4x", "5f3c2a19--4", "zzzzzzzz-1",
                   "5f3c2a19-99999999999999999999999", "5f3c2a19 42", "5f3c2a19-1 "})
    {
      CAF_MESSAGE("checking " << bad);
      CAF_CHECK(!parse_event_id(bad));
    }
}
