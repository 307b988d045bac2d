// herald: the hub's command line. Thin: parse the config, run the hub.

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "app/hub.hpp"
#include "config/config.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Herald: a real-time event hub (Server-Sent Events, durable replay)"};
  app.set_version_flag("--version", std::string{"herald " HERALD_VERSION});
  app.require_subcommand(1);

  std::string config_file;
  std::string listen;
  std::string data_dir;
  auto* serve = app.add_subcommand("serve", "run the hub");
  serve->add_option("--config", config_file,
                    "JSON config file (default: built-in defaults, see config/herald.json; "
                    "or $HERALD_CONFIG)");
  serve->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--data-dir", data_dir, "directory of the event log (default ./data)");

  CLI11_PARSE(app, argc, argv);

  herald::config cfg;
  if (config_file.empty())
    if (const char* env = std::getenv("HERALD_CONFIG"))
      config_file = env;
  auto fail = [](const std::string& msg) {
    std::cerr << "herald: " << msg << "\n";
    return 2;
  };
  if (!config_file.empty()) {
    std::ifstream in{config_file};
    if (!in)
      return fail("cannot read config file '" + config_file + "'");
    std::stringstream text;
    text << in.rdbuf();
    if (auto err = herald::apply_json(cfg, text.str()))
      return fail(config_file + ": " + *err);
  }
  if (auto err = herald::apply_env(cfg))
    return fail(*err);
  if (!listen.empty())
    if (auto err = herald::apply_listen(cfg, listen))
      return fail("--listen: " + *err);
  if (!data_dir.empty())
    cfg.data_dir = data_dir;
  if (auto err = herald::validate(cfg))
    return fail(*err);
  return herald::run_hub(cfg);
}
