//! @file The process's peak resident memory, for the command-line tools' and the example's reports.
#pragma once

#include <sys/resource.h>

namespace voxformer::tools {

//! Peak resident set size of this process so far, MiB (Linux reports ru_maxrss in KiB).
inline double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace voxformer::tools
