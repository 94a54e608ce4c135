//! @file What a pipeline run reports: per stage, its wall time and the memory it works in.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "voxformer/core/config.hpp"

namespace voxformer {

struct stage_timing {
  std::string name;
  double milliseconds = 0;
  //! Bytes of the pipeline's memory this stage works in: the frame buffers it reads and writes plus its
  //! scratch (the parameters, which the caller owns, excluded).
  std::size_t bytes = 0;
};

struct run_report {
  std::vector<stage_timing> stages;
  index_t proposals = 0;                  //!< Nq: proposed voxels, the cross-attention queries
  std::vector<index_t> visible_per_camera;  //!< queries each camera sees
  index_t seen_by_no_camera = 0;          //!< proposals no camera sees (they get q + b_o, spec §7 #21)
  std::size_t workspace_bytes = 0;        //!< the pipeline's frame memory, sized once at construction
  std::size_t derived_bytes = 0;          //!< weights rearranged once at construction (folded, transposed)

  double total_milliseconds() const {
    double total = 0;
    for (const auto& s : stages) total += s.milliseconds;
    return total;
  }
};

namespace detail {

//! Times a pipeline's stages one after another. Timing, `lap` waits for the executor's work — the stage's end — and
//! returns the wall time since the last lap or `restart`; not timing, it neither waits nor times (0 ms), so that on a
//! GPU a frame synchronises only where the host reads what it needs.
class stage_clock {
 public:
  explicit stage_clock(bool timing = true) : timing_(timing), start_(std::chrono::steady_clock::now()) {}
  void restart() { start_ = std::chrono::steady_clock::now(); }
  template <class Executor>
  double lap(const Executor& executor) {
    if (!timing_) return 0;
    synchronize(executor);
    const auto now = std::chrono::steady_clock::now();
    const double milliseconds = std::chrono::duration<double, std::milli>(now - start_).count();
    start_ = now;
    return milliseconds;
  }

 private:
  bool timing_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace detail
}  // namespace voxformer
