// A worker reporting a job's progress with the Herald SDK; viewers (index.html, or
// `herald job watch ID`) see every step pushed by the hub.
//
//   build/examples/herald-example-job-worker --url http://127.0.0.1:8080 --job import-1

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <herald/jobs.hpp>

int main(int argc, char** argv) {
  std::string url = "http://127.0.0.1:8080", job = "import-1";
  long steps = 10, step_ms = 300;
  CLI::App app{"A worker reporting a job's progress to Herald, step by step"};
  app.add_option("--url", url, "the hub")->capture_default_str();
  app.add_option("--job", job, "the job id")->capture_default_str();
  app.add_option("--steps", steps, "steps")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--step-ms", step_ms, "milliseconds per step")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    herald::sdk::job_client jobs{url};
    jobs.update(job, {{"state", "waiting"}, {"message", "queued"}});
    for (long s = 1; s <= steps; ++s) {
      std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
      jobs.update(job, {{"state", "active"},
                        {"progress", 100 * s / (steps + 1)},
                        {"message", "step " + std::to_string(s) + " of " + std::to_string(steps)}});
    }
    auto last = jobs.update(job, {{"state", "completed"}, {"result", {{"steps", steps}}}});
    std::cout << last.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "job worker: " << e.what() << "\n";
    return 1;
  }
}
