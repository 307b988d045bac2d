#pragma once
// The client subcommands of the herald command line (publish, subscribe, job), on the SDK.

#include <string>
#include <vector>

#include "herald/client.hpp"

namespace herald::cli {

struct publish_args {
  std::string url, topic, data, type, key;
  sdk::credentials creds;
  bool ack = false;
};

struct subscribe_args {
  std::string url, last_event_id, session;
  sdk::credentials creds;
  std::vector<std::string> topics;
  double heartbeat_timeout_s = 60;
  long max_events = 0; // 0: until interrupted
  bool ack = false;    // durable sessions: acknowledge each event once printed
  bool websocket = false; // over GET /v1/ws instead of SSE
};

struct job_args {
  std::string url, id, data;
  sdk::credentials creds;
};

int publish(const publish_args& a);
int subscribe(const subscribe_args& a);
int job_set(const job_args& a);
int job_get(const job_args& a);
int job_watch(const job_args& a);

struct backup_args {
  std::string url, dir;
  sdk::credentials creds;
};

/// herald backup DIR: asks the hub for a copy of its data in DIR (made absolute here: the hub
/// writes it on its own machine, which is this one when the URL is a loopback address).
int backup(const backup_args& a);

} // namespace herald::cli
