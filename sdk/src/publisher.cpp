#include "herald/publisher.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "http_link.hpp"

namespace herald::sdk {
namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

struct queued_event {
  json wire; // the event object as sent (topic, data, type, ack, idempotency_key)
  std::function<void(publish_result)> done;
};


} // namespace

struct publisher::impl {
  publisher_options opts;
  detail::http_link link;
  std::mt19937_64 rng{std::random_device{}()};
  std::string key_prefix;
  std::uint64_t key_seq = 0;

  mutable std::mutex mtx;
  std::condition_variable wake;     // the worker: work or stop
  std::condition_variable idle;     // flush(): everything answered
  std::deque<queued_event> queue;
  std::size_t in_flight = 0;
  bool stopping = false;
  publisher_stats st;
  std::thread worker;

  explicit impl(publisher_options o)
    : opts(std::move(o)), link(hub_address::parse(opts.url, opts.creds)) {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
    key_prefix = std::string{"sdk-"} + buf + "-";
    worker = std::thread([this] { run(); });
  }

  void run() {
    for (;;) {
      std::vector<queued_event> batch;
      {
        std::unique_lock<std::mutex> lock{mtx};
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty())
          return; // stopping, nothing left
        // Linger: let a few more events join the first one.
        auto until = clock::now() + opts.linger;
        wake.wait_until(lock, until, [&] { return stopping || queue.size() >= opts.max_batch; });
        auto n = std::min(queue.size(), opts.max_batch);
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        in_flight = batch.size();
      }
      send(batch);
      {
        std::lock_guard<std::mutex> lock{mtx};
        in_flight = 0;
      }
      idle.notify_all();
    }
  }

  /// Sends `events` as one request until it is answered for good. Returns the final reply.
  detail::http_reply attempt(const std::vector<queued_event*>& events) {
    json body = json::array();
    for (auto* e : events)
      body.push_back(e->wire);
    auto text = body.dump();
    auto start = clock::now();
    for (unsigned n = 0;; ++n) {
      {
        std::lock_guard<std::mutex> lock{mtx};
        ++st.requests;
        if (n > 0)
          ++st.retries;
      }
      auto reply = link.request("POST", "/v1/publish", text, opts.request_timeout);
      if (reply.status == 201 || !detail::retryable(reply))
        return reply;
      auto delay = detail::backoff(n, reply.retry_after, opts.retry.initial, opts.retry.max, rng);
      if (clock::now() + delay - start > opts.retry.give_up_after)
        return reply;
      std::this_thread::sleep_for(delay);
    }
  }

  void finish(queued_event& e, publish_result r) {
    {
      std::lock_guard<std::mutex> lock{mtx};
      ++(r.ok() ? st.published : st.failed);
    }
    if (e.done)
      e.done(std::move(r));
  }

  void send(std::vector<queued_event>& batch) {
    std::vector<queued_event*> all;
    for (auto& e : batch)
      all.push_back(&e);
    auto reply = attempt(all);
    if (reply.status == 201) {
      auto doc = json::parse(reply.body, nullptr, false);
      if (doc.is_object() && doc.contains("ids") && doc["ids"].size() == batch.size()) {
        for (std::size_t i = 0; i < batch.size(); ++i)
          finish(batch[i], publish_result{doc["ids"][i].get<std::string>(), std::nullopt});
        return;
      }
      reply.status = 502;
      reply.body = R"({"error":{"code":"bad_answer","message":"unexpected publish answer"}})";
    }
    if ((reply.status == 400 || reply.status == 413) && batch.size() > 1) {
      // Refused as a whole: find the bad ones by sending one at a time (same keys: no repeats).
      for (auto& e : batch) {
        auto one = attempt({&e});
        auto doc = json::parse(one.body, nullptr, false);
        if (one.status == 201 && doc.is_object() && doc.contains("ids"))
          finish(e, publish_result{doc["ids"][0].get<std::string>(), std::nullopt});
        else
          finish(e, publish_result{{}, detail::error_of(one)});
      }
      return;
    }
    auto why = detail::error_of(reply);
    for (auto& e : batch)
      finish(e, publish_result{{}, why});
  }
};

publisher::publisher(publisher_options opts) : impl_(std::make_unique<impl>(std::move(opts))) {
  // nop
}

publisher::~publisher() {
  {
    std::lock_guard<std::mutex> lock{impl_->mtx};
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->worker.join();
}

void publisher::publish_async(std::string topic, json data, publish_options opts,
                              std::function<void(publish_result)> done) {
  auto& d = *impl_;
  queued_event e;
  e.wire = json{{"topic", std::move(topic)}, {"data", std::move(data)}};
  if (!opts.type.empty())
    e.wire["type"] = std::move(opts.type);
  if (opts.ack)
    e.wire["ack"] = true;
  e.done = std::move(done);
  {
    std::unique_lock<std::mutex> lock{d.mtx};
    if (d.stopping || d.queue.size() >= d.opts.max_queued) {
      ++d.st.failed;
      lock.unlock();
      if (e.done)
        e.done(publish_result{{}, error{0, d.stopping ? "stopped" : "queue_full",
                                        d.stopping ? "the publisher is stopping"
                                                   : "too many events are waiting"}});
      return;
    }
    e.wire["idempotency_key"] = opts.idempotency_key.empty()
                                  ? d.key_prefix + std::to_string(++d.key_seq)
                                  : std::move(opts.idempotency_key);
    d.queue.push_back(std::move(e));
  }
  d.wake.notify_one();
}

std::future<std::string> publisher::publish_async(std::string topic, json data,
                                                  publish_options opts) {
  auto p = std::make_shared<std::promise<std::string>>();
  auto f = p->get_future();
  publish_async(std::move(topic), std::move(data), std::move(opts), [p](publish_result r) {
    if (r.ok())
      p->set_value(std::move(r.id));
    else
      p->set_exception(std::make_exception_ptr(request_failed(*r.failure)));
  });
  return f;
}

std::string publisher::publish(std::string topic, json data, publish_options opts) {
  return publish_async(std::move(topic), std::move(data), std::move(opts)).get();
}

void publisher::flush() {
  std::unique_lock<std::mutex> lock{impl_->mtx};
  impl_->idle.wait(lock, [&] { return impl_->queue.empty() && impl_->in_flight == 0; });
}

publisher_stats publisher::stats() const {
  std::lock_guard<std::mutex> lock{impl_->mtx};
  return impl_->st;
}

} // namespace herald::sdk
