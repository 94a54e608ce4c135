// libFuzzer target for the KITTI calib.txt parser (scripts/fuzz.sh builds and runs it; seeds in
// tests/fuzz/corpus/kitti_calibration/). Any input must either parse into finite matrices or throw
// voxformer::error: a crash, a sanitizer report, another exception or a non-finite value is a finding.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "voxformer/io/kitti.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<voxformer::io::kitti_calibration> calib;
  try {
    calib.emplace(voxformer::io::parse_kitti_calibration(text, "fuzz input"));
  } catch (const voxformer::error&) {
    return 0;  // a malformed input, rejected: the expected outcome for most inputs
  }
  // Outside the try: nothing below may throw for a file that parsed.
  for (const auto& p : calib->p) check(p.allFinite());
  check(calib->tr.allFinite() && calib->tr.row(3) == Eigen::RowVector4d(0, 0, 0, 1));
  // The derived matrices may overflow to Inf for huge inputs, but must not crash.
  volatile double sink = calib->lidar_to_image().sum() + calib->camera_to_lidar().sum() +
                         static_cast<double>(voxformer::io::to_mat4f(calib->lidar_to_image()).m[15]);
  (void)sink;
  return 0;
}
