#include "storage/shared_log.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <unordered_map>

#include <nats/nats.h>
#include <spdlog/spdlog.h>

namespace herald {
namespace {

constexpr const char* msg_id_header = "Nats-Msg-Id";
constexpr const char* job_header = "Herald-Job";
constexpr const char* job_base_header = "Herald-Job-Base";
constexpr const char* session_header = "Herald-Session";
constexpr const char* origin_header = "Herald-Origin";

std::string status_text(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string out = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && out != last)
    out += std::string{": "} + last;
  if (code != 0)
    out += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return out;
}

std::string base64url(const std::string& in) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8)
             | static_cast<unsigned char>(in[i + 2]);
    out += {abc[(n >> 18) & 63], abc[(n >> 12) & 63], abc[(n >> 6) & 63], abc[n & 63]};
  }
  if (i + 1 == in.size()) {
    auto n = static_cast<unsigned char>(in[i]) << 16;
    out += {abc[(n >> 18) & 63], abc[(n >> 12) & 63]};
  } else if (i + 2 == in.size()) {
    auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {abc[(n >> 18) & 63], abc[(n >> 12) & 63], abc[(n >> 6) & 63]};
  }
  return out;
}

std::int64_t nanos(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(s).count();
}

} // namespace

/// What the publisher's ack handler (on a NATS client thread) reports for the current batch.
struct shared_log::acks {
  std::mutex mtx;
  std::unordered_map<std::string, std::uint64_t> seqs; // message id -> position
  std::string error;                                   // the first failure of this batch
  std::size_t duplicates = 0; // acknowledged as a message id the stream had already stored

  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<acks*>(closure);
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, msg_id_header, &id) != NATS_OK || id == nullptr)
      id = "";
    std::lock_guard<std::mutex> guard{self->mtx};
    if (pa != nullptr) {
      self->seqs[id] = pa->Sequence;
      self->duplicates += pa->Duplicate ? 1 : 0;
    } else if (pae != nullptr && self->error.empty()) {
      self->error = std::string{"JetStream refused a publish: "}
                    + (pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err));
    }
    natsMsg_Destroy(msg);
  }
};

std::unique_ptr<shared_log> shared_log::open(const shared_log_settings& s, std::string& error) {
  std::unique_ptr<shared_log> log{new shared_log};
  log->settings_ = s;
  log->acks_ = std::make_unique<acks>();
  {
    std::random_device rd;
    char buf[24];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    log->origin_ = buf;
  }
  natsOptions* opts = nullptr;
  std::vector<const char*> urls;
  for (auto& u : s.servers)
    urls.push_back(u.c_str());
  auto st = natsOptions_Create(&opts);
  if (st == NATS_OK)
    st = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (st == NATS_OK)
    st = natsOptions_SetName(opts, s.node_name.c_str());
  if (st == NATS_OK)
    st = natsOptions_SetTimeout(opts, 2000);
  // Reconnect forever, soon, jittered: a node recovers by itself when NATS returns.
  if (st == NATS_OK)
    st = natsOptions_SetMaxReconnect(opts, -1);
  if (st == NATS_OK)
    st = natsOptions_SetReconnectWait(opts, 250);
  if (st == NATS_OK)
    st = natsOptions_SetReconnectJitter(opts, 250, 1000);
  // A server that stops answering is noticed within a few seconds.
  if (st == NATS_OK)
    st = natsOptions_SetPingInterval(opts, 1000);
  if (st == NATS_OK)
    st = natsOptions_SetMaxPingsOut(opts, 3);
  // After a reconnect the tail starts over from its head: its consumer may have lived on the
  // server that went away, and waiting for missed heartbeats takes seconds.
  if (st == NATS_OK)
    st = natsOptions_SetReconnectedCB(
      opts,
      [](natsConnection*, void* closure) {
        static_cast<std::atomic<std::uint64_t>*>(closure)->fetch_add(1);
        spdlog::info("event=cluster_reconnected");
      },
      &log->reconnects_);
  if (st == NATS_OK)
    st = natsOptions_SetDisconnectedCB(
      opts, [](natsConnection*, void*) { spdlog::warn("event=cluster_disconnected"); }, nullptr);
  if (st == NATS_OK)
    st = natsConnection_Connect(&log->conn_, opts);
  natsOptions_Destroy(opts);
  if (st != NATS_OK) {
    error = "cannot connect to NATS (" + s.servers.front() + (s.servers.size() > 1 ? ", ..." : "")
            + "): " + status_text(st);
    return nullptr;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = s.publish_timeout.count();
  jo.PublishAsync.AckHandler = &acks::on_ack;
  jo.PublishAsync.AckHandlerClosure = log->acks_.get();
  jo.PublishAsync.MaxPending = 65536;
  st = natsConnection_JetStream(&log->publisher_, log->conn_, &jo);
  if (st == NATS_OK) {
    jsOptions_Init(&jo);
    jo.Wait = s.publish_timeout.count();
    st = natsConnection_JetStream(&log->tailer_, log->conn_, &jo);
  }
  if (st != NATS_OK) {
    error = "cannot use JetStream: " + status_text(st);
    return nullptr;
  }
  // The stream, created or brought to this node's limits (JetStream applies them in place).
  auto events = s.stream + ".ev.>";
  auto jobs = s.stream + ".job.>";
  auto sessions = s.stream + ".sess.>";
  const char* subject_list[] = {events.c_str(), jobs.c_str(), sessions.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = s.stream.c_str();
  cfg.Subjects = subject_list;
  cfg.SubjectsLen = 3;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = static_cast<int64_t>(s.replicas);
  cfg.MaxMsgsPerSubject = static_cast<int64_t>(s.max_events_per_topic);
  cfg.MaxAge = nanos(s.max_age);
  cfg.Duplicates = nanos(s.duplicate_window);
  jsStreamInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  st = js_GetStreamInfo(&info, log->tailer_, s.stream.c_str(), nullptr, &jerr);
  if (st == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
    jerr = static_cast<jsErrCode>(0);
    st = js_AddStream(&info, log->tailer_, &cfg, nullptr, &jerr);
    if (st == NATS_OK)
      spdlog::info("event=cluster_stream_created stream={} replicas={}", s.stream, s.replicas);
    else // another node created it meanwhile
      st = js_GetStreamInfo(&info, log->tailer_, s.stream.c_str(), nullptr, &jerr);
  }
  if (st == NATS_OK && info != nullptr) {
    auto* have = info->Config;
    bool subjects_differ = have->SubjectsLen != cfg.SubjectsLen;
    for (int i = 0; !subjects_differ && i < cfg.SubjectsLen; ++i)
      subjects_differ = std::string{have->Subjects[i]} != cfg.Subjects[i];
    if (subjects_differ || have->MaxMsgsPerSubject != cfg.MaxMsgsPerSubject
        || have->MaxAge != cfg.MaxAge || have->Duplicates != cfg.Duplicates) {
      spdlog::warn("event=cluster_stream_limits_changed stream={} max_msgs_per_subject={}->{} "
                   "max_age_s={}->{} duplicate_window_s={}->{}",
                   s.stream, have->MaxMsgsPerSubject, cfg.MaxMsgsPerSubject,
                   have->MaxAge / 1000000000, cfg.MaxAge / 1000000000,
                   have->Duplicates / 1000000000, cfg.Duplicates / 1000000000);
      cfg.Replicas = have->Replicas; // replicas are the operator's to change, not a node's
      jsStreamInfo* updated = nullptr;
      st = js_UpdateStream(&updated, log->tailer_, &cfg, nullptr, &jerr);
      jsStreamInfo_Destroy(updated);
    }
  }
  if (st != NATS_OK || info == nullptr) {
    jsStreamInfo_Destroy(info);
    error = "cannot create or read the stream '" + s.stream + "': " + status_text(st, jerr);
    return nullptr;
  }
  auto created = static_cast<std::uint64_t>(info->Created);
  log->epoch_ = static_cast<std::uint32_t>(created ^ (created >> 32));
  if (log->epoch_ == 0)
    log->epoch_ = 1;
  jsStreamInfo_Destroy(info);
  return log;
}

void shared_log::stop_tail() {
  if (tail_ != nullptr) {
    natsSubscription_Unsubscribe(tail_);
    natsSubscription_Destroy(tail_);
    tail_ = nullptr;
  }
}

shared_log::~shared_log() {
  stop_tail();
  jsCtx_Destroy(publisher_);
  jsCtx_Destroy(tailer_);
  if (conn_ != nullptr) {
    natsConnection_Close(conn_);
    natsConnection_Destroy(conn_);
  }
}

bool shared_log::connected() const {
  return conn_ != nullptr && natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED;
}

std::optional<stream_state> shared_log::state(std::string& error) const {
  jsStreamInfo* info = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  auto st = js_GetStreamInfo(&info, tailer_, settings_.stream.c_str(), nullptr, &jerr);
  if (st != NATS_OK || info == nullptr) {
    error = "cannot read the stream '" + settings_.stream + "': " + status_text(st, jerr);
    return std::nullopt;
  }
  stream_state out{info->State.FirstSeq, info->State.LastSeq};
  jsStreamInfo_Destroy(info);
  return out;
}

std::string shared_log::event_subject(const std::string& topic) const {
  return settings_.stream + ".ev." + base64url(topic);
}

std::string shared_log::job_subject(const std::string& id) const {
  return settings_.stream + ".job." + base64url(id);
}

std::string shared_log::session_subject(const std::string& id) const {
  return settings_.stream + ".sess." + base64url(id);
}

std::optional<std::string> shared_log::publish(const std::vector<shared_message>& msgs,
                                               std::vector<std::uint64_t>& seqs,
                                               std::size_t& repeats) {
  if (!connected())
    return std::string{"not connected to NATS"};
  {
    std::lock_guard<std::mutex> guard{acks_->mtx};
    acks_->seqs.clear();
    acks_->error.clear();
    acks_->duplicates = 0;
  }
  for (auto& m : msgs) {
    natsMsg* msg = nullptr;
    auto st = natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.body.data(),
                             static_cast<int>(m.body.size()));
    if (st == NATS_OK)
      st = natsMsgHeader_Set(msg, msg_id_header, m.msg_id.c_str());
    if (st == NATS_OK && m.kind == shared_kind::job)
      st = natsMsgHeader_Set(msg, job_header, m.key.c_str());
    if (st == NATS_OK && m.kind == shared_kind::session)
      st = natsMsgHeader_Set(msg, session_header, m.key.c_str());
    if (st == NATS_OK && m.kind == shared_kind::session)
      st = natsMsgHeader_Set(msg, origin_header, origin_.c_str());
    if (st == NATS_OK)
      st = js_PublishMsgAsync(publisher_, &msg, nullptr);
    natsMsg_Destroy(msg); // null when the library took it
    if (st != NATS_OK)
      return "cannot publish to JetStream: " + status_text(st);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = settings_.publish_timeout.count();
  auto st = js_PublishAsyncComplete(publisher_, &po);
  if (st != NATS_OK) {
    // Those still waiting are given up: their retries carry the same message ids.
    natsMsgList pending{nullptr, 0};
    if (js_PublishAsyncGetPendingList(&pending, publisher_) == NATS_OK)
      natsMsgList_Destroy(&pending);
    return "JetStream did not acknowledge in time: " + status_text(st);
  }
  std::lock_guard<std::mutex> guard{acks_->mtx};
  if (!acks_->error.empty())
    return acks_->error;
  repeats = acks_->duplicates;
  seqs.clear();
  seqs.reserve(msgs.size());
  for (auto& m : msgs) {
    auto it = acks_->seqs.find(m.msg_id);
    if (it == acks_->seqs.end())
      return "JetStream did not acknowledge every event";
    seqs.push_back(it->second);
  }
  return std::nullopt;
}

std::optional<std::string> shared_log::publish_job(const std::string& id,
                                                   const std::string& snapshot,
                                                   std::uint64_t base, std::uint64_t& position) {
  if (!connected())
    return std::string{"not connected to NATS"};
  auto subject = job_subject(id);
  auto base_text = std::to_string(base);
  natsMsg* msg = nullptr;
  auto st = natsMsg_Create(&msg, subject.c_str(), nullptr, snapshot.data(),
                           static_cast<int>(snapshot.size()));
  if (st == NATS_OK)
    st = natsMsgHeader_Set(msg, job_header, id.c_str());
  if (st == NATS_OK)
    st = natsMsgHeader_Set(msg, job_base_header, base_text.c_str());
  if (st != NATS_OK) {
    natsMsg_Destroy(msg);
    return "cannot publish to JetStream: " + status_text(st);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = settings_.publish_timeout.count();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  st = js_PublishMsg(&ack, publisher_, msg, &po, &jerr);
  natsMsg_Destroy(msg);
  if (st != NATS_OK || ack == nullptr) {
    jsPubAck_Destroy(ack);
    return "JetStream did not take the job's change: " + status_text(st, jerr);
  }
  position = ack->Sequence;
  jsPubAck_Destroy(ack);
  return std::nullopt;
}

std::optional<std::string> shared_log::start_tail(std::uint64_t from) {
  tail_reconnects_ = reconnects_.load();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = settings_.stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from;
  // The client recreates the consumer when heartbeats stop (its server went away): a second
  // between them, so the tail stalls for seconds, not the default's tens.
  so.Config.Heartbeat = 1000000000;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  auto subjects = settings_.stream + ".>";
  auto st = js_SubscribeSync(&tail_, tailer_, subjects.c_str(), nullptr, &so, &jerr);
  if (st != NATS_OK)
    return "cannot tail the stream '" + settings_.stream + "': " + status_text(st, jerr);
  // The tail applies in batches; let the client hold plenty meanwhile (flow control bounds it).
  natsSubscription_SetPendingLimits(tail_, 1 << 20, 512 << 20);
  return std::nullopt;
}

std::optional<std::string> shared_log::next(std::vector<tail_message>& out, std::size_t max,
                                            std::chrono::milliseconds wait) {
  if (reconnects_.load() != tail_reconnects_) {
    // Reconnected since the tail started: start it over right after what was read.
    return std::string{"reconnected"};
  }
  for (std::size_t n = 0; n < max; ++n) {
    natsMsg* msg = nullptr;
    auto st = natsSubscription_NextMsg(&msg, tail_, n == 0 ? wait.count() : 0);
    if (st == NATS_TIMEOUT)
      return std::nullopt;
    if (st != NATS_OK)
      return "the stream's tail failed: " + status_text(st);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      auto header = [&](const char* name) -> const char* {
        const char* v = nullptr;
        return natsMsgHeader_Get(msg, name, &v) == NATS_OK ? v : nullptr;
      };
      tail_message m;
      m.seq = meta->Sequence.Stream;
      m.pending = meta->NumPending;
      m.body.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
      if (auto* job = header(job_header)) {
        m.kind = shared_kind::job;
        m.key = job;
        if (auto* base = header(job_base_header)) {
          m.base = std::strtoull(base, nullptr, 10);
          m.has_base = true;
        }
      } else if (auto* session = header(session_header)) {
        m.kind = shared_kind::session;
        m.key = session;
        if (auto* origin = header(origin_header))
          m.origin = origin;
      }
      out.push_back(std::move(m));
      jsMsgMetaData_Destroy(meta);
    }
    natsMsg_Destroy(msg);
  }
  return std::nullopt;
}

} // namespace herald
