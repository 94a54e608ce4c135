//! @file What the parts of the Python module share: the functions that bind each part, how files are opened (a
//! missing file is Python's FileNotFoundError, a malformed one the library's ValueError, a failed write OSError),
//! how a configuration argument is read, and how C++ runs without the GIL.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/filesystem.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <voxformer/cpu_instances.hpp>  // the pipelines are compiled once, in cpu_instances.cpp
#include <voxformer/io/safetensors.hpp>
#include <voxformer/model/config.hpp>

namespace voxformer::python {

namespace nb = nanobind;

void bind_config(nb::module_& m);
void bind_pipelines(nb::module_& m);
void bind_model(nb::module_& m);
void bind_primitives(nb::module_& m);
void bind_metrics(nb::module_& m);
void bind_viz(nb::module_& m);

//! A file that is not there, or not a file: raised as FileNotFoundError, IsADirectoryError or OSError by the module's
//! translator.
class file_error : public std::runtime_error {
 public:
  enum class kind { missing, directory, other };
  file_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  kind what_kind() const { return kind_; }

 private:
  kind kind_;
};

//! A file that could not be written: raised as OSError.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

//! `path`, checked to be a regular file; `what` names it ("weights", "config") in the message.
inline const std::filesystem::path& existing_file(const std::filesystem::path& path, const char* what) {
  std::error_code ignored;
  if (std::filesystem::is_regular_file(path, ignored)) return path;
  const std::string where = std::string("voxformer: ") + what + " '" + path.string() + "' ";
  if (!std::filesystem::exists(path, ignored)) throw file_error(file_error::kind::missing, where + "does not exist");
  if (std::filesystem::is_directory(path, ignored))
    throw file_error(file_error::kind::directory, where + "is a directory, not a file");
  throw file_error(file_error::kind::other, where + "is not a regular file");
}

inline io::safetensors_file open_checkpoint(const std::filesystem::path& path, const char* what) {
  return io::safetensors_file::open(existing_file(path, what));
}

//! A parameter store: random weights from `seed`, or the checkpoint `weights` (`what` names the argument).
template <class Store>
Store load_store(const typename Store::config_type& config, const std::optional<std::filesystem::path>& weights,
                 const std::optional<std::uint64_t>& seed, const char* what) {
  return seed ? Store::random(config, *seed) : Store::from_file(config, open_checkpoint(*weights, what));
}

//! The configuration a constructor is given: None → the variant's preset, a Config, or the path of a JSON file.
model_config config_argument(const std::string& variant, const nb::handle& config);

//! Runs `f` without the GIL, one call at a time per object (`lock`): the objects own their frame memory, so two
//! Python threads sharing one must take turns, while threads with objects of their own run at once.
template <class F>
decltype(auto) without_gil(std::mutex& lock, F&& f) {
  nb::gil_scoped_release released;
  const std::lock_guard<std::mutex> one_at_a_time(lock);
  return f();
}

}  // namespace voxformer::python
