#include "app/json_log.hpp"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

namespace herald {
namespace {

bool integer(std::string_view v) {
  if (v.empty() || v.size() > 18)
    return false;
  std::size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size() || (v[i] == '0' && v.size() > i + 1))
    return false;
  for (; i < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9')
      return false;
  return true;
}

void member(std::string& out, std::string_view key, const nlohmann::json& value) {
  if (!out.empty())
    out.push_back(',');
  out += nlohmann::json(std::string{key}).dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
  out.push_back(':');
  out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

std::string logfmt_members(std::string_view m) {
  std::string out, rest;
  std::size_t i = 0;
  while (i < m.size()) {
    while (i < m.size() && m[i] == ' ')
      ++i;
    if (i == m.size())
      break;
    auto eq = m.find('=', i);
    auto space = m.find(' ', i);
    if (eq == std::string_view::npos || (space != std::string_view::npos && space < eq)) {
      // A word that is not key=value: kept, in order, in "message".
      auto end = space == std::string_view::npos ? m.size() : space;
      rest.append(rest.empty() ? "" : " ").append(m.substr(i, end - i));
      i = end;
      continue;
    }
    auto key = m.substr(i, eq - i);
    i = eq + 1;
    if (i < m.size() && m[i] == '"') {
      // A quoted value: up to the next unescaped quote; \" and \\ are unescaped.
      std::string v;
      ++i;
      while (i < m.size() && m[i] != '"') {
        if (m[i] == '\\' && i + 1 < m.size())
          ++i;
        v.push_back(m[i++]);
      }
      ++i;
      member(out, key, v);
    } else {
      auto end = m.find(' ', i);
      auto v = m.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
      i = end == std::string_view::npos ? m.size() : end;
      if (integer(v))
        member(out, key, std::stoll(std::string{v}));
      else
        member(out, key, std::string{v});
    }
  }
  if (!rest.empty())
    member(out, "message", rest);
  return out;
}

void json_log_formatter::format(const spdlog::details::log_msg& msg,
                                spdlog::memory_buf_t& dest) {
  auto t = std::chrono::system_clock::to_time_t(msg.time);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch())
              .count()
            % 1000;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[128]; // room for any year the formatter could be handed
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms));
  auto level = spdlog::level::to_string_view(msg.level);
  std::string line = "{\"time\":\"";
  line.append(stamp).append("\",\"level\":\"").append(level.data(), level.size()).append("\"");
  auto members = logfmt_members({msg.payload.data(), msg.payload.size()});
  if (!members.empty())
    line.append(",").append(members);
  line.append("}\n");
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> json_log_formatter::clone() const {
  return std::make_unique<json_log_formatter>();
}

} // namespace herald
