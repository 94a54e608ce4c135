//! @file A runner's output folder, written all or nothing: the files go to a staging folder on the filesystem of
//! `--out` and move into `--out` only once every one of them was written, so a failed run leaves `--out` as it was
//! (absent, or with the files it had).
#pragma once

#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>
#include <voxformer/core/error.hpp>

namespace voxformer::tools {

class staged_output {
 public:
  //! Makes the staging folder: in `out` if it exists, else in its nearest existing ancestor — where `out` will be
  //! made, so that moving the files in is a rename. A path through something other than a folder is an error.
  explicit staged_output(std::filesystem::path out) : out_(std::move(out)) {
    namespace fs = std::filesystem;
    detail::require(!out_.empty(), "--out is empty: it must name a folder");
    std::error_code ec;
    fs::path existing = out_;
    while (!existing.empty() && fs::status(existing, ec).type() == fs::file_type::not_found)
      existing = existing.parent_path();
    if (existing.empty()) existing = ".";  // `out` is relative
    detail::require(fs::is_directory(existing, ec), "--out '", out_.string(), "': '", existing.string(),
                    "' is not a folder");
    std::string pattern = (existing / ".voxformer-staging-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      const int error = errno;  // before the message is built
      detail::fail("--out '", out_.string(), "': cannot make a staging folder in '", existing.string(),
                   "': ", std::generic_category().message(error));
    }
    staging_ = pattern;
  }
  staged_output(const staged_output&) = delete;
  staged_output& operator=(const staged_output&) = delete;
  ~staged_output() {
    std::error_code ignored;
    std::filesystem::remove_all(staging_, ignored);
  }

  //! Writes the output file `name` by `write_file(path)` (a writer of voxformer::io) into the staging folder. Its
  //! errors name the file in `out`, where it was meant to go, rather than the staging copy.
  template <class Write>
  void write(const std::string& name, Write&& write_file) {
    const auto staged = staging_ / name;
    try {
      std::forward<Write>(write_file)(staged);
    } catch (const voxformer::error& e) {
      std::string message = e.what();
      const std::string staged_name = staged.string(), final_name = (out_ / name).string();
      for (auto at = message.find(staged_name); at != std::string::npos; at = message.find(staged_name, at))
        message.replace(at, staged_name.size(), final_name);
      throw voxformer::error(message);
    }
    if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  }

  //! Makes `out` (with its parents) and moves every file written into it, replacing files of the same names. A
  //! folder in the way of one of them is an error found before anything is made or moved.
  void commit() {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& name : names_)
      detail::require(!fs::is_directory(fs::symlink_status(out_ / name, ec)), "'", (out_ / name).string(),
                      "' is a folder: the output file cannot replace it");
    fs::create_directories(out_, ec);
    detail::require(!ec, "cannot make the output folder '", out_.string(), "': ", ec.message());
    for (const auto& name : names_) {
      fs::rename(staging_ / name, out_ / name, ec);
      detail::require(!ec, "cannot move '", name, "' into '", out_.string(), "': ", ec.message());
    }
  }

 private:
  std::filesystem::path out_, staging_;
  std::vector<std::string> names_;  // written, in order
};

}  // namespace voxformer::tools
