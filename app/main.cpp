// herald: the hub's command line. Thin: parse the config and run the hub, or run one of the
// client subcommands (publish, subscribe, job) on the SDK.

#include <cstdlib>
#include <variant>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "app/client.hpp"
#include "app/hub.hpp"
#include "auth/tokens.hpp"
#include "config/config.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

namespace {

const std::string default_url = "http://127.0.0.1:8080";

struct serve_args {
  std::string config_file;
  std::string listen;
  std::string data_dir;
};

CLI::App* add_serve(CLI::App& app, serve_args& a) {
  auto* serve = app.add_subcommand("serve", "run the hub");
  serve->add_option("--config", a.config_file,
                    "JSON config file (default: built-in defaults, see config/herald.json; "
                    "or $HERALD_CONFIG)");
  serve->add_option("--listen", a.listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--data-dir", a.data_dir, "directory of the event log (default ./data)");
  return serve;
}

/// --token (default $HERALD_TOKEN) and --ca-file, for every client command.
void add_credentials(CLI::App* cmd, herald::sdk::credentials& creds) {
  if (const char* env = std::getenv("HERALD_TOKEN"))
    creds.token = env;
  cmd->add_option("--token", creds.token, "a token (JWT) to send (default $HERALD_TOKEN)");
  cmd->add_option("--ca-file", creds.ca_file,
                  "https: PEM file of the CAs to trust (default: the system's)");
}

CLI::App* add_publish(CLI::App& app, herald::cli::publish_args& pa) {
  pa.url = default_url;
  auto* pub = app.add_subcommand("publish", "publish one event; prints its id");
  pub->add_option("--url", pa.url, "the hub (default " + default_url + ")");
  add_credentials(pub, pa.creds);
  pub->add_option("--topic", pa.topic, "topic")->required();
  pub->add_option("--data", pa.data, "the event's data (JSON)")->required();
  pub->add_option("--type", pa.type, "SSE event type");
  pub->add_option("--idempotency-key", pa.key, "key for exactly-once retries (default: made up)");
  pub->add_flag("--ack", pa.ack, "durable sessions must acknowledge it");
  return pub;
}

CLI::App* add_subscribe(CLI::App& app, herald::cli::subscribe_args& sa) {
  sa.url = default_url;
  auto* sub = app.add_subcommand("subscribe", "print a stream's events as JSON lines; resumes "
                                              "across disconnects");
  sub->add_option("--url", sa.url, "the hub (default " + default_url + ")");
  add_credentials(sub, sa.creds);
  sub->add_option("--topic", sa.topics, "topic or pattern (repeatable)");
  sub->add_option("--client", sa.session, "a durable session id: follow its stream instead");
  sub->add_option("--last-event-id", sa.last_event_id, "resume after this id");
  sub->add_option("--heartbeat-timeout", sa.heartbeat_timeout_s,
                  "seconds without a byte before the connection counts as dead (default 60)");
  sub->add_option("--max-events", sa.max_events, "stop after this many events");
  sub->add_flag("--ack", sa.ack, "with --client: acknowledge each event once printed");
  sub->add_flag("--websocket", sa.websocket, "subscribe over a WebSocket (GET /v1/ws), not SSE");
  return sub;
}

CLI::App* add_job(CLI::App& app, herald::cli::job_args& ja) {
  ja.url = default_url;
  auto* job = app.add_subcommand("job", "set, get or watch a job");
  job->require_subcommand(1);
  for (auto* c : {job->add_subcommand("set", "create or update a job (PUT)"),
                  job->add_subcommand("get", "print a job's snapshot"),
                  job->add_subcommand("watch", "print a job's events until it ends")}) {
    c->add_option("id", ja.id, "job id")->required();
    c->add_option("--url", ja.url, "the hub (default " + default_url + ")");
    add_credentials(c, ja.creds);
    if (c->get_name() == "set")
      c->add_option("--data", ja.data, "the update (JSON), see docs/api.md")->required();
  }
  return job;
}

struct token_args {
  std::string key_file;
  std::string alg = "HS256";
  std::string kid;
  std::string sub;
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
  std::vector<std::string> roles;
  bool admin = false;
  std::string ttl = "1h";
  std::string issuer;
  std::string audience;
};

CLI::App* add_token(CLI::App& app, token_args& ta) {
  auto* tok = app.add_subcommand("token", "mint a token (JWT) for operators and tests; prints it");
  tok->add_option("--key-file", ta.key_file,
                  "the HS secret, or the PEM private key (RS*, ES*)")->required();
  tok->add_option("--alg", ta.alg, "HS256 (default), HS384, HS512, RS256/384/512, ES256/384/512");
  tok->add_option("--kid", ta.kid, "the key id to put in the header");
  tok->add_option("--sub", ta.sub, "the subject")->required();
  tok->add_option("--publish", ta.publish, "a topic selector it may publish to (repeatable)");
  tok->add_option("--subscribe", ta.subscribe, "a topic selector it may read (repeatable)");
  tok->add_option("--role", ta.roles, "a role (repeatable)");
  tok->add_flag("--admin", ta.admin, "operator access");
  tok->add_option("--ttl", ta.ttl, "lifetime: 90s, 15m, 1h, 7d (default 1h)");
  tok->add_option("--iss", ta.issuer, "the issuer claim");
  tok->add_option("--aud", ta.audience, "the audience claim");
  return tok;
}

int mint(const token_args& ta) {
  auto fail = [](const std::string& msg) {
    std::cerr << "herald token: " << msg << "\n";
    return 2;
  };
  std::ifstream in{ta.key_file, std::ios::binary};
  if (!in)
    return fail("cannot read '" + ta.key_file + "'");
  std::stringstream key;
  key << in.rdbuf();
  auto secret = key.str();
  if (ta.alg.rfind("HS", 0) == 0)
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
      secret.pop_back();
  long long ttl = 0;
  char unit = 's';
  std::size_t used = 0;
  try {
    ttl = std::stoll(ta.ttl, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used + 1 < ta.ttl.size() || ttl <= 0)
    return fail("--ttl must look like 90s, 15m, 1h or 7d");
  if (used < ta.ttl.size())
    unit = ta.ttl[used];
  long long mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (mult == 0)
    return fail("--ttl unit must be s, m, h or d");
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  nlohmann::json herald_claim{{"publish", ta.publish}, {"subscribe", ta.subscribe}};
  if (ta.admin)
    herald_claim["admin"] = true;
  if (!ta.roles.empty())
    herald_claim["roles"] = ta.roles;
  nlohmann::json claims{{"sub", ta.sub}, {"iat", now}, {"exp", now + ttl * mult},
                        {"herald", herald_claim}};
  if (!ta.issuer.empty())
    claims["iss"] = ta.issuer;
  if (!ta.audience.empty())
    claims["aud"] = ta.audience;
  auto token = herald::mint_token(ta.alg, secret, ta.kid, claims.dump());
  if (auto* err = std::get_if<1>(&token))
    return fail(*err);
  std::cout << std::get<0>(token) << "\n";
  return 0;
}

int run_job(CLI::App& job, const herald::cli::job_args& ja) {
  if (job.got_subcommand("set"))
    return herald::cli::job_set(ja);
  if (job.got_subcommand("get"))
    return herald::cli::job_get(ja);
  return herald::cli::job_watch(ja);
}

/// The configuration: defaults, then the file, the environment, then the flags.
std::variant<herald::config, std::string> load_config(serve_args a) {
  herald::config cfg;
  if (a.config_file.empty())
    if (const char* env = std::getenv("HERALD_CONFIG"))
      a.config_file = env;
  if (!a.config_file.empty()) {
    std::ifstream in{a.config_file};
    if (!in)
      return "cannot read config file '" + a.config_file + "'";
    std::stringstream text;
    text << in.rdbuf();
    if (auto err = herald::apply_json(cfg, text.str()))
      return a.config_file + ": " + *err;
  }
  if (auto err = herald::apply_env(cfg))
    return *err;
  if (auto unknown = herald::unknown_env_keys(); !unknown.empty())
    return unknown.front();
  if (!a.listen.empty())
    if (auto err = herald::apply_listen(cfg, a.listen))
      return "--listen: " + *err;
  if (!a.data_dir.empty())
    cfg.data_dir = a.data_dir;
  if (auto err = herald::validate(cfg))
    return *err;
  return cfg;
}

int serve(const serve_args& a) {
  auto cfg = load_config(a);
  if (auto* err = std::get_if<std::string>(&cfg)) {
    std::cerr << "herald: " << *err << "\n";
    return 2;
  }
  return herald::run_hub(std::get<herald::config>(cfg), [a] { return load_config(a); });
}

/// herald config check: everything serve would refuse, without serving; prints the effective
/// configuration (secrets redacted) on success.
int config_check(const serve_args& a) {
  auto cfg = load_config(a);
  auto* err = std::get_if<std::string>(&cfg);
  std::optional<std::string> deeper;
  if (err == nullptr)
    deeper = herald::check_config(std::get<herald::config>(cfg));
  if (err != nullptr || deeper) {
    std::cerr << "herald config check: " << (err != nullptr ? *err : *deeper) << "\n";
    return 2;
  }
  std::cout << herald::effective_json(std::get<herald::config>(cfg)) << "\n";
  std::cerr << "herald config check: the configuration is valid\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Herald: a real-time event hub (Server-Sent Events, durable replay)"};
  app.set_version_flag("--version", std::string{"herald " HERALD_VERSION});
  app.require_subcommand(1);
  serve_args sv;
  herald::cli::publish_args pa;
  herald::cli::subscribe_args sa;
  herald::cli::job_args ja;
  add_serve(app, sv);
  serve_args cv;
  auto* conf = app.add_subcommand("config", "work with the configuration");
  conf->require_subcommand(1);
  auto* check = conf->add_subcommand(
    "check", "check a configuration as `serve` would load it (file, then HERALD_* variables, "
             "then flags) without starting the hub; prints the effective configuration with "
             "secrets redacted; exit status 2 if the hub would refuse it");
  check->add_option("file", cv.config_file, "the config file (default $HERALD_CONFIG)");
  check->add_option("--config", cv.config_file, "the config file (the same as FILE)");
  check->add_option("--listen", cv.listen, "HOST:PORT, as serve --listen");
  check->add_option("--data-dir", cv.data_dir, "as serve --data-dir");
  auto* pub = add_publish(app, pa);
  auto* sub = add_subscribe(app, sa);
  auto* job = add_job(app, ja);
  token_args ta;
  auto* tok = add_token(app, ta);
  herald::cli::backup_args ba;
  ba.url = default_url;
  auto* bak = app.add_subcommand(
    "backup", "ask a running hub for a consistent copy of its data in DIR, a new directory on the "
              "hub's machine; a hub started with --data-dir DIR starts from it (admin token)");
  bak->add_option("dir", ba.dir, "the new directory")->required();
  bak->add_option("--url", ba.url, "the hub (default " + default_url + ")");
  add_credentials(bak, ba.creds);
  CLI11_PARSE(app, argc, argv);
  if (tok->parsed())
    return mint(ta);
  if (check->parsed())
    return config_check(cv);
  if (bak->parsed())
    return herald::cli::backup(ba);
  if (pub->parsed())
    return herald::cli::publish(pa);
  if (sub->parsed())
    return herald::cli::subscribe(sa);
  if (job->parsed())
    return run_job(*job, ja);
  return serve(sv);
}
