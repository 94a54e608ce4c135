//! @file Running a frame several times and reporting each stage's median time (the tools' `--repeat`).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>
#include <voxformer/pipeline/stage_report.hpp>

namespace voxformer::tools {

//! Calls `run(r)` (returning a run_report) for r = 0 … repeat − 1; returns the last report with every stage's time
//! replaced by its median over the runs.
template <class Run>
run_report median_of_runs(int repeat, Run&& run) {
  std::vector<std::vector<double>> times;
  run_report report;
  for (int r = 0; r < repeat; ++r) {
    report = run(r);
    times.resize(report.stages.size());
    for (std::size_t i = 0; i < report.stages.size(); ++i) times[i].push_back(report.stages[i].milliseconds);
  }
  for (std::size_t i = 0; i < times.size(); ++i) {
    std::sort(times[i].begin(), times[i].end());
    report.stages[i].milliseconds = times[i][times[i].size() / 2];
  }
  return report;
}

}  // namespace voxformer::tools
