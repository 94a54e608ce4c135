//! @file The process's peak resident set size, for the benchmarks' `peak_rss_mib` counter (run one benchmark per
//! process, --benchmark_filter, for a peak of its own).
#pragma once

#include <sys/resource.h>

namespace bench {

inline double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace bench
