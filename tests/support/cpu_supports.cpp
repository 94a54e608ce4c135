// Run by tests/CMakeLists.txt when it configures: exits 0 if this CPU runs code built for the ISA named by
// argv[1] — "avx2" (x86-64-v3) or "avx512" (x86-64-v4), checked as the whole ISA level (BMI2, LZCNT, MOVBE, …
// too) — and 1 otherwise. The lane-test binaries built for an ISA the CPU lacks cannot even be listed (gtest's
// static initialisers, compiled for it, fault before main), so CTest registers them only where this says they run.
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (std::strcmp(argv[1], "avx512") == 0) return __builtin_cpu_supports("x86-64-v4") ? 0 : 1;
  if (std::strcmp(argv[1], "avx2") == 0) return __builtin_cpu_supports("x86-64-v3") ? 0 : 1;
  return 2;
}
