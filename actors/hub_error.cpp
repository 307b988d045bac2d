#include "actors/hub_error.hpp"

#include <caf/message.hpp>

namespace herald {
namespace {

constexpr auto category = caf::atom("herald");

} // namespace

const char* to_string(hub_errc x) {
  switch (x) {
    case hub_errc::invalid_request: return "invalid_request";
    case hub_errc::not_found: return "not_found";
    case hub_errc::conflict: return "conflict";
    case hub_errc::topic_full: return "topic_full";
    case hub_errc::shutting_down: return "shutting_down";
    case hub_errc::unavailable: return "unavailable";
    case hub_errc::storage_failure: return "storage_failure";
    case hub_errc::finished: return "finished";
    case hub_errc::internal: return "internal";
    case hub_errc::forbidden: return "forbidden";
  }
  return "internal";
}

caf::error hub_error(hub_errc x, std::string code, std::string message,
                     std::optional<std::uint64_t> current_version) {
  return caf::error{static_cast<std::uint8_t>(x), category,
                    caf::make_message(std::move(code), std::move(message),
                                      current_version.has_value(), current_version.value_or(0))};
}

caf::error make_error(hub_errc x) {
  return caf::error{static_cast<std::uint8_t>(x), category};
}

bool is(const caf::error& err, hub_errc x) {
  return err.category() == category && err.code() == static_cast<std::uint8_t>(x);
}

error_parts parts_of(const caf::error& err) {
  error_parts out;
  if (err.category() != category || err.code() < 1
      || err.code() > static_cast<std::uint8_t>(hub_errc::last)) {
    out.code = "internal";
    out.message = err ? "unexpected error: " + caf::to_string(err) : "unexpected empty error";
    return out;
  }
  out.kind = static_cast<hub_errc>(err.code());
  auto& ctx = err.context();
  if (ctx.match_elements<std::string, std::string, bool, std::uint64_t>()) {
    out.code = ctx.get_as<std::string>(0);
    out.message = ctx.get_as<std::string>(1);
    if (ctx.get_as<bool>(2))
      out.current_version = ctx.get_as<std::uint64_t>(3);
  } else {
    out.code = to_string(out.kind);
  }
  return out;
}

void add_hub_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(category, [](std::uint8_t code, caf::atom_value,
                                       const caf::message& ctx) -> std::string {
    auto parts = parts_of(caf::error{code, category, ctx});
    return "herald: " + std::string{to_string(parts.kind)} + " " + parts.code
           + (parts.message.empty() ? "" : ": " + parts.message);
  });
}

} // namespace herald
