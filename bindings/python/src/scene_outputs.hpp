//! @file What a frame of stage 2 + head gives back to Python — labels, logits when asked, every stage's output when
//! asked — allocated before the frame and handed to NumPy after it; and the run report as a dict.
#pragma once

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/model/config.hpp>
#include <voxformer/ops/common/copy.hpp>
#include <voxformer/pipeline/stage_report.hpp>

#include "arrays.hpp"

namespace voxformer::python {

class scene_outputs {
 public:
  scene_outputs(const model_config& config, bool with_logits) : labels_(config.output_volume()) {
    const auto g = config.output_volume();
    if (with_logits) logits_.emplace(std::array<index_t, 4>{config.classes, g[0], g[1], g[2]});
  }

  //! `frame(labels)` or `frame(labels, logits)`, as asked.
  template <class Frame>
  decltype(auto) run(const Frame& frame) {
    return logits_ ? frame(labels_.view(), logits_->view()) : frame(labels_.view());
  }

  //! The observer that keeps a copy of each stage's output [rows, C] (called without the GIL).
  std::function<void(std::string_view, tensor_view<const float, 2>)> stage_recorder() {
    return [this](std::string_view stage, tensor_view<const float, 2> output) {
      auto& kept = stages_.emplace_back(std::string(stage), output.extents());
      copy(cpu_executor{1}, output, kept.second.view());
    };
  }

  //! {"labels": uint8 [2X, 2Y, 2Z], "logits": float32 [classes, 2X, 2Y, 2Z]?, "stages": {name: float32 [rows, C]}?}
  nb::dict release(bool with_stages) {
    nb::dict result;
    result["labels"] = labels_.release();
    if (logits_) result["logits"] = logits_->release();
    if (with_stages) {
      nb::dict stages;
      for (auto& [name, output] : stages_) stages[name.c_str()] = output.release();
      result["stages"] = stages;
    }
    return result;
  }

 private:
  result_array<std::uint8_t, 3> labels_;
  std::optional<result_array<float, 4>> logits_;
  std::vector<std::pair<std::string, result_array<float, 2>>> stages_;
};

//! The report as plain Python data: {"stages": [{"name", "ms", "bytes"}], "total_ms", "proposals",
//! "visible_per_camera", "seen_by_no_camera", "workspace_bytes", "derived_bytes"}.
inline nb::dict report_dict(const run_report& report) {
  nb::list stages;
  for (const auto& s : report.stages) {
    nb::dict stage;
    stage["name"] = s.name;
    stage["ms"] = s.milliseconds;
    stage["bytes"] = s.bytes;
    stages.append(stage);
  }
  nb::dict d;
  d["stages"] = stages;
  d["total_ms"] = report.total_milliseconds();
  d["proposals"] = report.proposals;
  d["visible_per_camera"] = report.visible_per_camera;
  d["seen_by_no_camera"] = report.seen_by_no_camera;
  d["workspace_bytes"] = report.workspace_bytes;
  d["derived_bytes"] = report.derived_bytes;
  return d;
}

//! What a batch call gives back: its uint8 output `name` [B, …] (labels or proposal), the logits [B, classes, …]
//! when asked, and one report dict per frame.
template <int Rank>
class batch_outputs {
 public:
  batch_outputs(const char* name, const std::array<index_t, Rank>& shape, index_t classes, bool with_logits)
      : name_(name), out_(shape) {
    if (!with_logits) return;
    std::array<index_t, Rank + 1> logits{shape[0], classes};
    for (int d = 1; d < Rank; ++d) logits[d + 1] = shape[d];
    logits_.emplace(logits);
  }

  //! `batch(out)` or `batch(out, logits)`, as asked; each returns the frames' reports.
  template <class Batch>
  void run(const Batch& batch) {
    const std::span<const run_report> reports = logits_ ? batch(out_.view(), logits_->view()) : batch(out_.view());
    reports_.assign(reports.begin(), reports.end());
  }

  nb::dict release() {
    nb::dict result;
    result[name_] = out_.release();
    if (logits_) result["logits"] = logits_->release();
    nb::list reports;
    for (const auto& report : reports_) reports.append(report_dict(report));
    result["reports"] = reports;
    return result;
  }

 private:
  const char* name_;
  result_array<std::uint8_t, Rank> out_;
  std::optional<result_array<float, Rank + 1>> logits_;
  std::vector<run_report> reports_;
};

}  // namespace voxformer::python
