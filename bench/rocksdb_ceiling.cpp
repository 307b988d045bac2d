// rocksdb_ceiling: the ceiling for durable publishing on this disk. A plain loop writes batches
// of B values (one Put per event, sequential 8-byte keys, values of --size bytes) into a fresh
// RocksDB in DIR for --seconds, with the WAL on and, with --sync, an fsync per batch: what a
// hub that did nothing but store events could reach. Prints one JSON line: events/s and the
// per-batch write latency percentiles.
//
//   rocksdb_ceiling --dir /tmp/ceiling --batch 500 --size 160 --seconds 5 [--sync]

#include "bench/bench_util.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

int main(int argc, char** argv) {
  std::string dir = "/tmp/herald-rocksdb-ceiling";
  int batch = 500;
  int size = 160;
  double seconds = 5;
  bool sync = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--sync") { sync = true; continue; }
    if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", k.c_str()); return 2; }
    std::string v = argv[++i];
    if (k == "--dir") dir = v;
    else if (k == "--batch") batch = std::max(1, std::stoi(v));
    else if (k == "--size") size = std::stoi(v);
    else if (k == "--seconds") seconds = std::stod(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  std::filesystem::remove_all(dir);
  rocksdb::Options opts;
  opts.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(opts, dir, &raw);
  if (!st.ok()) {
    std::fprintf(stderr, "open: %s\n", st.ToString().c_str());
    return 2;
  }
  std::unique_ptr<rocksdb::DB> db{raw};
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  std::string value(static_cast<size_t>(size), 'x');
  herald_bench::histogram h;
  std::uint64_t key = 0;
  long events = 0;
  using clock_type = std::chrono::steady_clock;
  auto start = clock_type::now();
  auto end = start + std::chrono::duration_cast<clock_type::duration>(
                       std::chrono::duration<double>(seconds));
  while (clock_type::now() < end) {
    rocksdb::WriteBatch b;
    for (int i = 0; i < batch; ++i, ++key) {
      char k[8];
      for (int j = 0; j < 8; ++j)
        k[j] = static_cast<char>(key >> (56 - 8 * j));
      b.Put(rocksdb::Slice{k, 8}, value);
    }
    auto t0 = clock_type::now();
    st = db->Write(wo, &b);
    if (!st.ok()) {
      std::fprintf(stderr, "write: %s\n", st.ToString().c_str());
      return 2;
    }
    h.add(std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0).count());
    events += batch;
  }
  double secs = std::chrono::duration<double>(clock_type::now() - start).count();
  std::printf("{\"batch\":%d,\"size\":%d,\"sync\":%s,\"seconds\":%.3f,\"events\":%ld,"
              "\"events_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
              "\"max_ms\":%.3f}\n",
              batch, size, sync ? "true" : "false", secs, events, events / secs,
              h.percentile(0.5), h.percentile(0.99), h.percentile(0.999), h.max_us / 1000.0);
  db.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
