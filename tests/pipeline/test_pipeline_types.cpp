// The pipeline instantiated in other types on the float checkpoint: in double, and with its layers' projection and
// FFN weights in bfloat16 and in float16. A file of its own: these instantiations are the float one's source in other types, and the
// sanitizer build, which runs the float one, leaves them out (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "support/msda_case.hpp"  // expect_close
#include "support/pipeline_fixture.hpp"
#include "voxformer/backend/cpu/gemm_narrow.hpp"

// Compiled here once for the test binary: test_pipelines_on_emulated_device.cpp takes them as its 16-bit references.
template class voxformer::pipeline<voxformer::cpu_executor, float, voxformer::bfloat16>;
template class voxformer::pipeline<voxformer::cpu_executor, float, voxformer::float16>;

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

// 16-bit weights in the layers' products (value and output projections, FFN), fp32 activations and sums. Each
// product then differs from fp32's by its operands' rounding, at most 2u + u² of Σ|a·b| (u = 2⁻⁸ for bfloat16, 2⁻¹¹
// for float16; tests/backend/cpu/test_gemm_narrow.cpp); a stage after n such products (4 a layer), each followed by
// a residual and a LayerNorm that keep the scale, is allowed n·u of its largest reference value. On this fixture the
// stages land 6–20× inside that for bfloat16; the labels agree with the fp32 reference's on ≥ 99 % of the voxels
// (the ties of random weights apart).
template <class W>
void expect_narrow_weights_near_fp32(int unit_roundoff_exponent) {
  const std::string name = voxformer::to_string(voxformer::dtype_of<W>());
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto store = f.weights();
  voxformer::pipeline<cpu_executor, float, W> pipe(cpu_executor{2}, f.config, store.parameters());
  const voxformer::pipeline<cpu_executor, float> fp32(cpu_executor{2}, f.config, store.parameters());
  EXPECT_LT(pipe.report().derived_bytes, fp32.report().derived_bytes) << "the layers' copies are half the size";

  std::vector<std::pair<std::string, std::vector<float>>> stages;
  pipe.observe([&](std::string_view stage, voxformer::tensor_view<const float, 2> out) {
    stages.emplace_back(std::string(stage), std::vector<float>(out.data(), out.data() + out.size()));
  });
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.output_voxels()));
  std::vector<float> logits(static_cast<std::size_t>(f.config.output_voxels() * f.config.classes));
  pipe.run(f.features, f.lidar2img, f.proposal, voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}),
           voxformer::make_view<4>(logits.data(), {f.config.classes, grid[0], grid[1], grid[2]}));

  const auto expect_within = [&](const std::string& stage, const std::vector<float>& actual,
                                 const std::vector<float>& reference, int products) {
    ASSERT_EQ(actual.size(), reference.size()) << stage;
    double largest = 0, worst = 0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
      largest = std::max(largest, std::abs(static_cast<double>(reference[i])));
      const double d = std::abs(static_cast<double>(actual[i]) - reference[i]);
      if (!(d <= worst)) worst = d;  // NaN counts as the worst
    }
    EXPECT_LE(worst, products * std::ldexp(largest, unit_roundoff_exponent))
        << stage << " after " << products << " " << name << " products";
    std::cout << "[ " << name << " ] " << stage << ": largest difference " << worst / largest
              << " of the largest value\n";
  };
  int products = 0;
  for (const auto& [stage, values] : stages) {
    if (stage.find("_layer") != std::string::npos) products += 4;
    expect_within(stage, values, test::fixture_values<float>(f.expected(stage)), products);
  }
  expect_within("logits", logits, test::fixture_values<float>(f.expected("logits")), products);
  const auto reference_labels = test::fixture_values<std::uint8_t>(f.expected("labels"));
  ASSERT_EQ(reference_labels.size(), labels.size());
  std::size_t agree = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) agree += labels[i] == reference_labels[i];
  const double agreement = static_cast<double>(agree) / static_cast<double>(labels.size());
  std::cout << "[ " << name << " ] labels agree on " << 100 * agreement << " % of " << labels.size() << " voxels\n";
  EXPECT_GE(agreement, 0.99);
}

TEST(Pipeline, RunsWithBfloat16LayerWeights) { expect_narrow_weights_near_fp32<voxformer::bfloat16>(-8); }
TEST(Pipeline, RunsWithFloat16LayerWeights) { expect_narrow_weights_near_fp32<voxformer::float16>(-11); }

}  // namespace
