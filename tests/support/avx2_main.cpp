// main() of the AVX2 build of the sampling tests: exits with 77 (reported by CTest as skipped) on a CPU
// without AVX2 and FMA, where the binary's instructions cannot run.
#include <gtest/gtest.h>

#include <cstdio>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!GTEST_FLAG_GET(list_tests) && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    std::puts("skipped: this CPU has no AVX2/FMA");
    return 77;
  }
  return RUN_ALL_TESTS();
}
