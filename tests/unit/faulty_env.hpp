#pragma once
// A RocksDB environment whose file writes and reads fail on demand: the storage error paths under
// test see real RocksDB errors (IOError from the WAL or from an SST read), not a mock.

#include <atomic>
#include <memory>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace herald::test {

class faulty_fs : public rocksdb::FileSystemWrapper {
public:
  std::atomic<bool> fail_writes{false};
  std::atomic<bool> fail_reads{false};

  faulty_fs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {
    // nop
  }

  const char* Name() const override { return "herald.faulty_fs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    auto st = target()->NewWritableFile(f, o, r, d);
    if (st.ok())
      *r = std::make_unique<writable>(std::move(*r), this);
    return st;
  }

  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* d) override {
    auto st = target()->NewRandomAccessFile(f, o, r, d);
    if (st.ok())
      *r = std::make_unique<random_access>(std::move(*r), this);
    return st;
  }

private:
  struct writable : rocksdb::FSWritableFileOwnerWrapper {
    writable(std::unique_ptr<rocksdb::FSWritableFile> f, faulty_fs* fs)
      : FSWritableFileOwnerWrapper(std::move(f)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (fs_->fail_writes)
        return rocksdb::IOStatus::IOError("injected write failure");
      return FSWritableFileOwnerWrapper::Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* d) override {
      if (fs_->fail_writes)
        return rocksdb::IOStatus::IOError("injected write failure");
      return FSWritableFileOwnerWrapper::Append(data, o, v, d);
    }
    faulty_fs* fs_;
  };

  struct random_access : rocksdb::FSRandomAccessFileOwnerWrapper {
    random_access(std::unique_ptr<rocksdb::FSRandomAccessFile> f, faulty_fs* fs)
      : FSRandomAccessFileOwnerWrapper(std::move(f)), fs_(fs) {}
    rocksdb::IOStatus Read(std::uint64_t offset, std::size_t n, const rocksdb::IOOptions& o,
                           rocksdb::Slice* result, char* scratch,
                           rocksdb::IODebugContext* d) const override {
      if (fs_->fail_reads)
        return rocksdb::IOStatus::IOError("injected read failure");
      return FSRandomAccessFileOwnerWrapper::Read(offset, n, o, result, scratch, d);
    }
    faulty_fs* fs_;
  };
};

/// The environment to open storage with, and its file system's switches.
struct faulty_env {
  std::shared_ptr<faulty_fs> fs = std::make_shared<faulty_fs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
};

} // namespace herald::test
