//! @file How the runners print a pipeline's run report: one JSON object, or a table of the stages.
#pragma once

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <voxformer/pipeline/stage_report.hpp>

#include "peak_rss.hpp"

namespace voxformer::tools {

//! The fields every runner reports; a runner adds its own.
inline nlohmann::json report_json(const run_report& report, int threads, int repeat) {
  nlohmann::json j;
  j["threads"] = threads;
  j["repeat"] = repeat;
  j["proposals"] = report.proposals;
  for (const auto& stage : report.stages) j["stages_ms"][stage.name] = stage.milliseconds;
  for (const auto& stage : report.stages) j["stages_bytes"][stage.name] = stage.bytes;
  j["total_ms"] = report.total_milliseconds();
  j["workspace_bytes"] = report.workspace_bytes;
  j["derived_bytes"] = report.derived_bytes;
  j["peak_rss_mib"] = peak_rss_mib();
  return j;
}

//! Each stage's time (the median over `repeat` frames when repeated) and working memory, the total, and the
//! memory the pipeline holds.
inline void print_stage_table(const run_report& report, int repeat, const std::filesystem::path& out) {
  constexpr double mib = 1 << 20;
  std::printf("  %-14s %10s %12s\n", "stage", repeat > 1 ? "median ms" : "ms", "memory MiB");
  for (const auto& stage : report.stages)
    std::printf("  %-14s %10.1f %12.1f\n", stage.name.c_str(), stage.milliseconds,
                static_cast<double>(stage.bytes) / mib);
  std::printf("  %-14s %10.1f\n", "total", report.total_milliseconds());
  std::printf("  workspace %.1f MiB, derived weights %.1f MiB, peak RSS %.1f MiB; wrote %s\n",
              static_cast<double>(report.workspace_bytes) / mib, static_cast<double>(report.derived_bytes) / mib,
              peak_rss_mib(), out.string().c_str());
}

}  // namespace voxformer::tools
