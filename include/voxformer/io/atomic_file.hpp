//! @file Files written whole or not at all, the one way every writer of io/ writes: the bytes stream into a
//! temporary file next to the destination, which is renamed over the destination only once all of them are on
//! disk (docs/conventions.md, "Files").
//
// A stream checked while its data is still buffered reports success on a full disk, and a file opened over the
// destination truncates it before the first byte is known to fit. Here every write(2) is checked, and fsync and
// close too (some filesystems report a failed write only there); rename(2) then replaces the destination in one
// step, so a reader finds the old file or the whole new one, never a truncated one.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "voxformer/core/error.hpp"

namespace voxformer::io::detail {

//! The temporary file `.<name>.tmp-<pid>-<n>` in the destination's folder, created by the constructor; `commit()`
//! renames it over the destination, and the destructor removes it if that did not happen (an error, or an exception
//! while the caller was streaming its bytes). A destination that is a symbolic link has the file it names replaced.
//! One that exists and is no regular file — a device or a pipe such as /dev/null or /dev/stdout, which a rename
//! would replace and which holds no half-written file — is written directly.
//! Every error is a voxformer::error that begins with `where` (the writer and the file) and gives the system's
//! reason: "cannot open for writing: …", "cannot write: No space left on device".
class atomic_file {
 public:
  atomic_file(std::filesystem::path destination, std::string where)
      : destination_(std::move(destination)), where_(std::move(where)) {
    struct ::stat status {};
    if (::stat(destination_.c_str(), &status) == 0 && !S_ISREG(status.st_mode)) {
      fd_ = ::open(destination_.c_str(), O_WRONLY | O_CLOEXEC);  // a directory fails here
      if (fd_ < 0) fail_with_errno("cannot open for writing");
      return;
    }
    std::error_code ignored;  // a missing destination: its name as given
    if (auto target = std::filesystem::canonical(destination_, ignored); !ignored) destination_ = std::move(target);
    const auto folder = destination_.parent_path();
    // At most 200 bytes of the name, so that the suffix keeps the temporary's name within NAME_MAX (255).
    const std::string name = destination_.filename().string().substr(0, 200);
    do {  // a name taken already is a leftover of an earlier process with this pid: take the next one
      temporary_ = folder / ("." + name + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(next_number()));
      fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    } while (fd_ < 0 && errno == EEXIST);
    if (fd_ < 0) fail_with_errno("cannot open for writing");
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!temporary_.empty() && !committed_) ::unlink(temporary_.c_str());
  }

  //! Appends `bytes` bytes from `data`; a write the system refuses (a full disk) throws.
  void write(const void* data, std::size_t bytes) {
    if (!write_or_keep_error(data, bytes)) throw_if_write_failed();
  }
  void write(std::string_view text) { write(text.data(), text.size()); }

  //! The same for C callbacks (libpng's), which must not throw: false when the write failed, the reason kept for
  //! throw_if_write_failed() and commit(); every later write then fails too.
  bool write_or_keep_error(const void* data, std::size_t bytes) noexcept {
    const auto* next = static_cast<const char*>(data);
    while (bytes > 0 && write_errno_ == 0) {
      // Partial writes are resumed; one call is bounded as Linux bounds it (about 2 GiB) anyway.
      const ::ssize_t written = ::write(fd_, next, std::min(bytes, std::size_t{1} << 30));
      if (written > 0) {
        next += written;
        bytes -= static_cast<std::size_t>(written);
      } else if (written == 0) {
        write_errno_ = EIO;  // nothing written and no reason given: never loop on it
      } else if (errno != EINTR) {
        write_errno_ = errno;
      }
    }
    return write_errno_ == 0;
  }

  //! Throws the reason a write_or_keep_error() failed, if one did.
  void throw_if_write_failed() const {
    if (write_errno_ != 0) fail("cannot write", write_errno_);
  }

  //! Puts the file on disk (fsync, close) and renames it over the destination; throws, leaving the destination as it
  //! was, if a write failed or any of these does.
  void commit() {
    throw_if_write_failed();
    const bool replacing = !temporary_.empty();
    if (replacing && ::fsync(fd_) != 0) fail_with_errno("cannot write");
    if (::close(std::exchange(fd_, -1)) != 0) fail_with_errno("cannot write");
    if (replacing && ::rename(temporary_.c_str(), destination_.c_str()) != 0)
      fail_with_errno("cannot put the written file in place");
    committed_ = true;
  }

 private:
  static unsigned long next_number() {
    static std::atomic<unsigned long> files{0};
    return files++;
  }

  [[noreturn]] void fail(std::string_view what, int error) const {
    voxformer::detail::fail(where_, ": ", what, ": ", std::generic_category().message(error));
  }
  [[noreturn]] void fail_with_errno(const char* what) const { fail(what, errno); }

  std::filesystem::path destination_;
  std::filesystem::path temporary_;  // empty when the destination is written directly
  std::string where_;
  int fd_ = -1;
  int write_errno_ = 0;
  bool committed_ = false;
};

//! Writes the file at `path` through `produce(atomic_file&)`, which streams its bytes in: the destination is replaced
//! once they are all on disk, and left as it was if `produce` throws or the system fails (see atomic_file).
template <class Produce>
void write_file_atomically(const std::filesystem::path& path, std::string where, Produce&& produce) {
  atomic_file file(path, std::move(where));
  std::forward<Produce>(produce)(file);
  file.commit();
}

//! The same for `bytes` bytes from `data`, already in memory.
inline void write_file_atomically(const std::filesystem::path& path, std::string where, const void* data,
                                  std::size_t bytes) {
  write_file_atomically(path, std::move(where), [&](atomic_file& file) { file.write(data, bytes); });
}

}  // namespace voxformer::io::detail
