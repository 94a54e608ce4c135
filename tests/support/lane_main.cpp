// main() of the wider-SIMD builds of the lane tests (tests/CMakeLists.txt): exits with 77 (reported by CTest as
// skipped) on a CPU without the instructions the binary was compiled for, where it cannot run. The build names
// them: VOXFORMER_LANE_TEST_ISA is "avx2" (x86-64-v3: AVX2 + FMA) or "avx512" (x86-64-v4: AVX-512 F/BW/DQ/VL).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

namespace {

bool cpu_runs_this_binary() {
  if (std::strcmp(VOXFORMER_LANE_TEST_ISA, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!GTEST_FLAG_GET(list_tests) && !cpu_runs_this_binary()) {
    std::printf("skipped: this CPU has no %s\n", VOXFORMER_LANE_TEST_ISA);
    return 77;
  }
  return RUN_ALL_TESTS();
}
