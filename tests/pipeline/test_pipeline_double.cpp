// The pipeline instantiated in double, on the float checkpoint. A file of its own: the double instantiation is the
// float one's source in another type, and the sanitizer build, which runs the float one, leaves it out
// (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "support/msda_case.hpp"  // expect_close
#include "support/pipeline_fixture.hpp"

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;

// The whole model in double: the fp32 checkpoint converted once, every stage still within the tolerance.
TEST(Pipeline, RunsInDoublePrecision) {
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto store = voxformer::parameter_store<double>::from_file(
      f.config, voxformer::io::safetensors_file::open(f.dir / "weights.safetensors"));
  std::vector<std::vector<double>> features;
  for (const auto& level : f.features) {
    const float* v = level.data<float>();
    features.emplace_back(v, v + level.size());
  }
  std::vector<voxformer::tensor_view<const double, 5>> levels;
  for (std::size_t l = 0; l < features.size(); ++l) {
    const auto& s = f.features[l].shape;
    levels.emplace_back(features[l].data(), std::array<index_t, 5>{s[0], s[1], s[2], s[3], s[4]});
  }
  voxformer::pipeline<cpu_executor, double> pipe(cpu_executor{2}, f.config, store.parameters());
  std::vector<double> last_self;
  pipe.observe([&](std::string_view stage, voxformer::tensor_view<const double, 2> out) {
    if (stage == "self_layer1") last_self.assign(out.data(), out.data() + out.size());
  });
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.output_voxels()));
  pipe.run(levels, f.lidar2img, f.proposal, voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}));
  test::expect_close(last_self, test::fixture_values<float>(f.expected("self_layer1")), test::stage_tolerance, 0);
}

}  // namespace
