// RFC 6570 templates as Mercure subscribers give them (topic selectors): parsed, matched against
// a topic, and expanded; a template's expansion is matched by the template.
// Input: "template\ntopic\nvalue".
#include "fuzz/fuzz_input.hpp"
#include "storage/mercure.hpp"
#include "uri/uri_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto f = herald::fuzz::fields(herald::fuzz::text(data, size), 3);
  std::string value(f[2]);
  herald::mercure_selector selector{std::string(f[0])};
  if (selector.expressions() > herald::max_selector_expressions)
    return 0; // the hub refuses such a selector before it matches anything
  (void) selector.matches(f[1]);
  auto tpl = herald::uri::uri_template::parse(f[0]);
  if (!tpl)
    return 0;
  (void) tpl->matches(f[1]);
  herald::uri::template_vars vars;
  for (const char* name : {"id", "topic", "x", "y", "var", "path", "book", "user"})
    vars.emplace(name, value);
  vars.emplace("list", std::vector<std::string>{value, "b", ""});
  vars.emplace("keys", std::vector<std::pair<std::string, std::string>>{{"k", value}, {"a", "b"}});
  auto expanded = tpl->expand(vars);
  if (!tpl->matches(expanded))
    __builtin_trap();
  return 0;
}
