#pragma once
// log.format "json": one JSON object per line, for log shippers. Herald's log lines are
// key=value pairs ("event=stream_closed conn=ab12 duration_ms=12 error=\"a quoted value\"");
// each becomes a member: {"time":"...","level":"info","event":"stream_closed","conn":"ab12",
// "duration_ms":12,"error":"a quoted value"}. Integers become numbers; anything else a string.

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

namespace herald {

/// The JSON members of a key=value message, without braces (`"event":"x","n":1`). Text that is
/// not key=value is kept as a "message" member.
std::string logfmt_members(std::string_view message);

class json_log_formatter : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

} // namespace herald
