// The configuration file: applied to the defaults and checked as `herald serve --config` does.
// A configuration that is accepted prints (effective_json) to a document that loads to the same.
#include "config/config.hpp"
#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  herald::config cfg;
  if (herald::apply_json(cfg, std::string(herald::fuzz::text(data, size))))
    return 0;
  if (herald::validate(cfg))
    return 0;
  auto printed = herald::effective_json(cfg);
  herald::config again;
  if (herald::apply_json(again, printed) || herald::effective_json(again) != printed)
    __builtin_trap();
  return 0;
}
