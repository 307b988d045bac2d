// A worker reporting a job's progress with the Herald SDK; viewers (index.html, or
// `herald job watch ID`) see every step pushed by the hub.
//
//   build/examples/herald-example-job-worker --url http://127.0.0.1:8080 --job import-1

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <herald/jobs.hpp>

int main(int argc, char** argv) {
  std::string url = "http://127.0.0.1:8080", job = "import-1";
  long steps = 10, step_ms = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url") url = v;
    else if (k == "--job") job = v;
    else if (k == "--steps") steps = std::atol(v.c_str());
    else if (k == "--step-ms") step_ms = std::atol(v.c_str());
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
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
