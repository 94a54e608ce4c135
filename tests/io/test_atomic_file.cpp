// Every writer of io/ leaves its file complete or as it was (io/atomic_file.hpp): the mechanism itself, and each
// writer on a full disk — a 16 KiB tmpfs in a private mount namespace, in a child process (root only: skipped where
// the namespace or the mount is refused) — on a read-only one, and at paths that cannot hold a file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/temp_file.hpp"
#include "voxformer/io/atomic_file.hpp"
#include "voxformer/io/binary_file.hpp"
#include "voxformer/io/label_volume.hpp"
#include "voxformer/io/npy.hpp"
#include "voxformer/io/ply.hpp"
#include "voxformer/io/png.hpp"
#include "voxformer/io/safetensors.hpp"
#include "voxformer/io/voxel_grid.hpp"

namespace {

namespace fs = std::filesystem;
namespace io = voxformer::io;
using test::error_of;
using test::temp_file;

std::string contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void put(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

//! The names in `folder`, sorted, joined by spaces: temporaries (".<name>.tmp-…") show up too.
std::string entries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : " ") + name;
  return joined;
}

//! An empty folder of its own for one test.
fs::path fresh_folder(const std::string& name) {
  const auto folder = temp_file(name);
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder;
}

constexpr std::size_t disk_bytes = 16 * 1024;

//! What `body(folder)` returned, run in a child process in a private mount namespace with a `disk_bytes` tmpfs
//! mounted on `folder` with `options` (e.g. "ro"), so that nothing outside the child sees it. Empty with `skipped`
//! set where the namespace or the mount is refused (not root, or a container without the capability).
struct tmpfs_run {
  std::string skipped;
  std::vector<std::string> results;
};

using tmpfs_body = std::function<std::vector<std::string>(const fs::path& folder)>;

tmpfs_run run_on_tmpfs(const std::string& options, const tmpfs_body& body) {
  const auto folder = fresh_folder("tmpfs_mount_point");
  int channel[2];
  if (::pipe(channel) != 0) return {"pipe() failed", {}};
  const ::pid_t child = ::fork();
  if (child < 0) return {"fork() failed", {}};
  if (child == 0) {
    ::close(channel[0]);
    std::string message;  // 'S' and why skipped, or 'R' and each result as "<length>:<bytes>"
    const std::string mount_options = "size=" + std::to_string(disk_bytes) + (options.empty() ? "" : "," + options);
    if (::unshare(CLONE_NEWNS) != 0) {
      message = "Sunshare(CLONE_NEWNS): " + std::string(std::strerror(errno));
    } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
               ::mount("tmpfs", folder.c_str(), "tmpfs", 0, mount_options.c_str()) != 0) {
      message = "Smount: " + std::string(std::strerror(errno));
    } else {
      message = "R";
      try {
        for (const auto& result : body(folder)) message += std::to_string(result.size()) + ':' + result;
      } catch (const std::exception& e) {
        const std::string what = std::string("exception: ") + e.what();
        message += std::to_string(what.size()) + ':' + what;
      }
    }
    for (std::size_t sent = 0; sent < message.size();) {
      const auto n = ::write(channel[1], message.data() + sent, message.size() - sent);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(channel[1]);
  std::string message;
  char buffer[4096];
  for (::ssize_t n; (n = ::read(channel[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, static_cast<std::size_t>(n));
  ::close(channel[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  fs::remove_all(folder);
  if (message.empty()) return {"", {"the child process ended without a word (status " + std::to_string(status) + ")"}};
  if (message[0] == 'S') return {message.substr(1), {}};
  tmpfs_run run;
  for (std::size_t at = 1; at < message.size();) {
    const auto colon = message.find(':', at);
    const auto length = std::stoul(message.substr(at, colon - at));
    run.results.push_back(message.substr(colon + 1, length));
    at = colon + 1 + length;
  }
  return run;
}

//! Fills the disk holding `folder` with a file "filler", up to the last byte.
void fill_disk(const fs::path& folder) {
  const int fd = ::open((folder / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const std::vector<char> block(512, 'f');
  while (::write(fd, block.data(), block.size()) > 0) {
  }
  ::close(fd);
}

std::vector<std::uint8_t> noise(std::size_t bytes) {
  std::vector<std::uint8_t> values(bytes);
  std::mt19937 random(7);
  for (auto& v : values) v = static_cast<std::uint8_t>(random());
  return values;
}

//! A writer of io/ and how its errors begin; `write(path, n)` writes a valid file of at least n bytes.
struct writer {
  std::string name;
  std::string where;
  void (*write)(const fs::path& path, std::size_t bytes);
};

void PrintTo(const writer& w, std::ostream* out) { *out << w.name; }

const writer writers[] = {
    {"npy", "voxformer::io::write_npy('",
     [](const fs::path& path, std::size_t bytes) {
       const std::vector<float> values(bytes / 4 + 1, 1.5f);
       io::write_npy(path, values.data(), {static_cast<std::int64_t>(values.size())});
     }},
    {"label_volume", "voxformer::io::write_label_volume('",
     [](const fs::path& path, std::size_t bytes) {
       const std::vector<std::uint16_t> labels(bytes / 2 + 1, 9);
       io::write_label_volume(path, labels, {static_cast<std::int64_t>(labels.size())});
     }},
    {"packed_grid", "voxformer::io::write_packed_grid('",
     [](const fs::path& path, std::size_t bytes) {
       const std::vector<std::uint8_t> voxels(8 * bytes + 8, 1);
       io::write_packed_grid(path, voxels, {static_cast<std::int64_t>(voxels.size())});
     }},
    {"binary_array", "voxformer::io::write_binary_array('",
     [](const fs::path& path, std::size_t bytes) {
       const std::vector<std::uint8_t> values(bytes + 1, 3);
       io::write_binary_array(path, values.data(), values.size());
     }},
    {"png", "voxformer::io::write_png('",
     [](const fs::path& path, std::size_t bytes) {
       // Noise, which deflate cannot shrink.
       const auto side = static_cast<voxformer::index_t>(std::ceil(std::sqrt(static_cast<double>(bytes) / 3))) + 1;
       io::write_png(path, noise(static_cast<std::size_t>(3 * side * side)), side, side);
     }},
    {"ply_points", "voxformer::io::write_ply_points('",
     [](const fs::path& path, std::size_t bytes) {
       const auto count = static_cast<voxformer::index_t>(bytes / 15 + 1);
       const std::vector<float> positions(static_cast<std::size_t>(3 * count), 0.5f);
       const std::vector<std::uint8_t> colors(static_cast<std::size_t>(3 * count), 200);
       io::write_ply_points(path, voxformer::make_view<2>(positions.data(), {count, 3}),
                            voxformer::make_view<2>(colors.data(), {count, 3}));
     }},
    {"safetensors", "voxformer::io::safetensors('",
     [](const fs::path& path, std::size_t bytes) {
       const std::vector<std::byte> data(bytes + 1, std::byte{5});
       const auto size = static_cast<std::int64_t>(data.size());
       const io::safetensors_tensor_bytes tensor{"w", io::safetensors_dtype::u8, {size}, data};
       io::write_safetensors(path, std::span(&tensor, 1));
     }},
};

class Writer : public ::testing::TestWithParam<writer> {};

TEST_P(Writer, WritesTheWholeFileAndNothingElse) {
  const auto& w = GetParam();
  const auto folder = fresh_folder("atomic_" + w.name);
  const auto path = folder / "out.file";
  w.write(path, 100);
  const auto small = contents(path);
  w.write(path, 100'000);
  EXPECT_GT(contents(path).size(), 100'000u);
  w.write(path, 100);  // over a larger file: no stale tail
  EXPECT_EQ(contents(path), small);
  EXPECT_EQ(entries(folder), "out.file");
  fs::remove_all(folder);
}

// Was: the stream was checked while the data was still in its buffer, so a small file on a full disk was reported
// written (0 bytes on disk); a large one was found failing but left truncated, over the previous file's bytes.
TEST_P(Writer, AFullDiskIsAnErrorAndLeavesEveryFileAsItWas) {
  const auto& w = GetParam();
  const auto run = run_on_tmpfs("", [&](const fs::path& disk) -> std::vector<std::string> {
    const std::string previous = "the previous bytes";
    put(disk / "kept.file", previous);
    const auto too_big = error_of([&] { w.write(disk / "new.file", 4 * disk_bytes); });
    const auto over_kept = error_of([&] { w.write(disk / "kept.file", 4 * disk_bytes); });
    fill_disk(disk);
    const auto small = error_of([&] { w.write(disk / "small.file", 10); });
    const auto kept = contents(disk / "kept.file");
    return {too_big, over_kept, small, entries(disk),
            kept == previous ? "unchanged" : "changed to " + std::to_string(kept.size()) + " bytes", disk.string()};
  });
  if (!run.skipped.empty()) GTEST_SKIP() << "no private tmpfs: " << run.skipped;
  ASSERT_EQ(run.results.size(), 6u) << ::testing::PrintToString(run.results);
  const std::string& disk = run.results[5];
  EXPECT_CONTAINS(run.results[0], w.where + disk + "/new.file'): cannot write: No space left on device");
  EXPECT_CONTAINS(run.results[1], w.where + disk + "/kept.file'): cannot write: No space left on device");
  EXPECT_CONTAINS(run.results[2], w.where + disk + "/small.file'): cannot write: No space left on device");
  EXPECT_EQ(run.results[3], "filler kept.file") << "a file or a temporary was left";
  EXPECT_EQ(run.results[4], "unchanged");
}

TEST_P(Writer, AReadOnlyDiskIsAnError) {
  const auto& w = GetParam();
  const auto run = run_on_tmpfs("ro", [&](const fs::path& disk) -> std::vector<std::string> {
    return {error_of([&] { w.write(disk / "new.file", 10); }), entries(disk)};
  });
  if (!run.skipped.empty()) GTEST_SKIP() << "no private tmpfs: " << run.skipped;
  ASSERT_EQ(run.results.size(), 2u) << ::testing::PrintToString(run.results);
  EXPECT_CONTAINS(run.results[0], "new.file'): cannot open for writing: Read-only file system");
  EXPECT_EQ(run.results[1], "");
}

TEST_P(Writer, APathThatCannotHoldAFileIsAnError) {
  const auto& w = GetParam();
  const auto folder = fresh_folder("unwritable_" + w.name);
  const auto missing = folder / "no_such_folder" / "x.file";
  EXPECT_CONTAINS(error_of([&] { w.write(missing, 10); }),
                  w.where + missing.string() + "'): cannot open for writing: No such file or directory");
  put(folder / "a_file", "bytes");
  EXPECT_CONTAINS(error_of([&] { w.write(folder / "a_file" / "x.file", 10); }),
                  "cannot open for writing: Not a directory");
  fs::create_directory(folder / "a_folder");
  EXPECT_CONTAINS(error_of([&] { w.write(folder / "a_folder", 10); }),
                  w.where + (folder / "a_folder").string() + "'): cannot open for writing: Is a directory");
  EXPECT_TRUE(fs::is_empty(folder / "a_folder"));
  EXPECT_EQ(entries(folder), "a_file a_folder");
  fs::remove_all(folder);
}

INSTANTIATE_TEST_SUITE_P(EveryWriter, Writer, ::testing::ValuesIn(writers),
                         [](const ::testing::TestParamInfo<writer>& param) { return param.param.name; });

TEST(AtomicFile, TheDestinationChangesOnlyOnCommit) {
  const auto folder = fresh_folder("atomic_commit");
  const auto path = folder / "data.bin";
  put(path, "old");
  io::detail::write_file_atomically(path, "test", [&](io::detail::atomic_file& file) {
    file.write("new bytes");
    EXPECT_EQ(contents(path), "old");
    const auto names = entries(folder);  // the temporary, beside the destination
    const std::string temporary = ".data.bin.tmp-" + std::to_string(::getpid()) + "-";
    EXPECT_TRUE(names.starts_with(temporary) && names.ends_with(" data.bin")) << names;
  });
  EXPECT_EQ(contents(path), "new bytes");
  EXPECT_EQ(entries(folder), "data.bin");
  fs::remove_all(folder);
}

TEST(AtomicFile, AnExceptionWhileWritingLeavesTheDestinationAsItWas) {
  const auto folder = fresh_folder("atomic_exception");
  const auto path = folder / "data.bin";
  put(path, "old");
  EXPECT_THROW(io::detail::write_file_atomically(path, "test",
                                                 [](io::detail::atomic_file& file) {
                                                   file.write("half of it");
                                                   throw std::runtime_error("the caller failed");
                                                 }),
               std::runtime_error);
  EXPECT_EQ(contents(path), "old");
  EXPECT_EQ(entries(folder), "data.bin");
  // The writers' own checks come first: nothing is created.
  const std::vector<float> values(3);
  EXPECT_CONTAINS(error_of([&] { io::write_npy(folder / "x.npy", values.data(), {-3}); }), "negative");
  EXPECT_EQ(entries(folder), "data.bin");
  fs::remove_all(folder);
}

TEST(AtomicFile, TemporariesHaveNamesOfTheirOwn) {
  const auto folder = fresh_folder("atomic_names");
  const auto path = folder / std::string(250, 'n');  // the longest names leave no room for the suffix
  io::detail::atomic_file first(path, "first"), second(path, "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(folder), fs::directory_iterator()), 2);
  first.write("one");
  second.write("two");
  first.commit();
  EXPECT_EQ(contents(path), "one");
  second.commit();
  EXPECT_EQ(contents(path), "two");
  EXPECT_EQ(entries(folder), std::string(250, 'n'));
  fs::remove_all(folder);
}

TEST(AtomicFile, ALinkKeepsNamingTheFileItNames) {
  const auto folder = fresh_folder("atomic_link");
  put(folder / "target.bin", "old");
  fs::create_symlink("target.bin", folder / "link.bin");
  io::write_binary_array(folder / "link.bin", "new", 3);
  EXPECT_TRUE(fs::is_symlink(folder / "link.bin"));
  EXPECT_EQ(contents(folder / "target.bin"), "new");
  EXPECT_EQ(entries(folder), "link.bin target.bin");
  fs::remove_all(folder);
}

// A device or a pipe is written as it is: a rename would replace the device node.
TEST(AtomicFile, DevicesAreWrittenDirectly) {
  io::write_binary_array("/dev/null", "bytes", 5);
  struct ::stat status {};
  ASSERT_EQ(::stat("/dev/null", &status), 0);
  EXPECT_TRUE(S_ISCHR(status.st_mode));
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  EXPECT_EQ(error_of([] { io::write_binary_array("/dev/full", "bytes", 5); }),
            "voxformer::io::write_binary_array('/dev/full'): cannot write: No space left on device");
  ASSERT_EQ(::stat("/dev/full", &status), 0);
  EXPECT_TRUE(S_ISCHR(status.st_mode));
}

// libpng's write callback may not throw: a failed write is kept and reported after libpng has unwound.
TEST(AtomicFile, AWriteFailureKeptForACallbackIsReported) {
  const auto run = run_on_tmpfs("", [&](const fs::path& disk) -> std::vector<std::string> {
    io::detail::atomic_file file(disk / "x.bin", "test");
    const std::vector<char> bytes(2 * disk_bytes);
    const bool written = file.write_or_keep_error(bytes.data(), bytes.size());
    const bool later = file.write_or_keep_error(bytes.data(), 1);
    return {written ? "written" : "failed", later ? "written" : "failed", error_of([&] { file.commit(); })};
  });
  if (!run.skipped.empty()) GTEST_SKIP() << "no private tmpfs: " << run.skipped;
  ASSERT_EQ(run.results.size(), 3u) << ::testing::PrintToString(run.results);
  EXPECT_EQ(run.results[0], "failed");
  EXPECT_EQ(run.results[1], "failed");
  EXPECT_EQ(run.results[2], "test: cannot write: No space left on device");
}

}  // namespace
