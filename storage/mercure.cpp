#include "storage/mercure.hpp"

namespace herald {

mercure_selector::mercure_selector(std::string text) : text_(std::move(text)) {
  any_ = text_ == "*";
  if (!any_ && text_.find('{') != std::string::npos)
    if (auto t = uri::uri_template::parse(text_); t && !t->literal()) {
      prefix_ = std::string{t->literal_prefix()};
      template_ = std::move(*t);
    }
  // A text that is not a valid template is an exact topic (as Mercure hubs treat it).
}

bool mercure_selector::matches(std::string_view topic) const {
  if (any_ || topic == text_)
    return true;
  return template_ && topic.substr(0, prefix_.size()) == prefix_ && template_->matches(topic);
}

bool mercure_any_match(const std::vector<mercure_selector>& selectors,
                       const std::vector<std::string>& topics) {
  for (auto& s : selectors)
    for (auto& t : topics)
      if (s.matches(t))
        return true;
  return false;
}

mercure_view::mercure_view(const std::vector<std::string>& selectors,
                           const std::vector<std::string>& private_selectors) {
  selectors_.reserve(selectors.size());
  for (auto& s : selectors)
    selectors_.emplace_back(s);
  private_.reserve(private_selectors.size());
  for (auto& s : private_selectors)
    private_.emplace_back(s);
}

bool mercure_view::admits(const mercure_fields& update, bool is_private) const {
  if (!mercure_any_match(selectors_, update.topics))
    return false;
  return !is_private || mercure_any_match(private_, update.topics);
}

} // namespace herald
