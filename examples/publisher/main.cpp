// A C++ program publishing a stream of events with the Herald SDK: P publishers (one thread
// each) publish N events in all, {"publisher": k, "seq": i}, in order per publisher. The SDK
// batches, retries through hub restarts and never publishes an event twice. Prints a summary.
//
//   build/examples/herald-example-publisher --url http://127.0.0.1:8080 --count 10000

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <herald/publisher.hpp>

int main(int argc, char** argv) {
  std::string url = "http://127.0.0.1:8080", topic = "demo/stream";
  long count = 10000, publishers = 1, linger_ms = 2, batch = 500, size = 0;
  CLI::App app{"Publishes a stream of events with the Herald SDK and prints a summary"};
  app.add_option("--url", url, "the hub")->capture_default_str();
  app.add_option("--topic", topic, "the topic")->capture_default_str();
  app.add_option("--count", count, "events in all")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--publishers", publishers, "publisher threads")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--linger-ms", linger_ms, "how long the SDK gathers a batch")->capture_default_str();
  app.add_option("--batch", batch, "events per request at most")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--size", size, "padding bytes per event")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::atomic<long> ok{0}, failed{0};
  std::vector<herald::sdk::publisher_stats> stats(static_cast<std::size_t>(publishers));
  std::string pad(static_cast<std::size_t>(size), 'x');
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (long k = 0; k < publishers; ++k)
    threads.emplace_back([&, k] {
      herald::sdk::publisher_options opts;
      opts.url = url;
      opts.linger = std::chrono::milliseconds(linger_ms);
      opts.max_batch = static_cast<std::size_t>(batch);
      herald::sdk::publisher pub{opts};
      // Keep at most 20,000 events outstanding: the SDK's queue is bounded, so is this program.
      std::mutex m;
      std::condition_variable cv;
      long outstanding = 0;
      long mine = count / publishers + (k < count % publishers ? 1 : 0);
      for (long i = 0; i < mine; ++i) {
        {
          std::unique_lock<std::mutex> lock{m};
          cv.wait(lock, [&] { return outstanding < 20000; });
          ++outstanding;
        }
        nlohmann::json data{{"publisher", k}, {"seq", i}};
        if (size > 0)
          data["pad"] = pad;
        pub.publish_async(topic, std::move(data), {}, [&](herald::sdk::publish_result r) {
          if (r.ok())
            ++ok;
          else if (failed++ < 5)
            std::cerr << "publish failed: " << r.failure->to_string() << "\n";
          std::lock_guard<std::mutex> lock{m};
          --outstanding;
          cv.notify_one();
        });
      }
      pub.flush();
      stats[static_cast<std::size_t>(k)] = pub.stats();
    });
  for (auto& t : threads)
    t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t requests = 0, retries = 0;
  for (auto& s : stats) {
    requests += s.requests;
    retries += s.retries;
  }
  std::cout << "{\"events\":" << count << ",\"published\":" << ok << ",\"failed\":" << failed
            << ",\"publishers\":" << publishers << ",\"requests\":" << requests
            << ",\"retries\":" << retries << ",\"seconds\":" << secs
            << ",\"events_per_s\":" << static_cast<long>(ok / secs) << "}" << std::endl;
  return failed == 0 && ok == count ? 0 : 1;
}
