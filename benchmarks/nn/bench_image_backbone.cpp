// The image path at the official size — ResNet-50 to layer3 + the FPN on 370 × 1220 crops (spec §3.1), random
// weights — for 1 and 5 images (VoxFormer-S and -T) on 1 and 2 threads, against this machine's FMA peak measured in
// the same process. Counters: GFLOP/s (the convolutions' multiply-adds × 2, ≈ 61 GFLOP per image), `of_peak` =
// GFLOP/s ÷ (peak per thread × threads), ms per image, and each stage's ms per image. The comparison with PyTorch
// (each side in its own process, peak RSS each) is benchmarks/bench_backbone_vs_torch.py, which runs this binary.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "fma_peak.hpp"
#include "voxformer/voxformer.hpp"

namespace {

using namespace voxformer;

//! Multiply-adds of one image through the network: each convolution's output pixels × C_out × C_in × taps.
double multiply_adds(const image_backbone_config& c) {
  double total = 0;
  auto conv = [&](std::array<index_t, 2> out, index_t cin, index_t cout, index_t taps) {
    total += static_cast<double>(out[0] * out[1]) * static_cast<double>(cin * cout * taps);
  };
  auto halve = [](std::array<index_t, 2> e) {
    return std::array<index_t, 2>{image_backbone_config::halve(e[0]), image_backbone_config::halve(e[1])};
  };
  auto size = halve(c.crop);  // the stem: 7×7/2
  conv(size, 3, c.base_width, 49);
  size = halve(size);  // the pool
  index_t channels = c.base_width;
  for (int layer = 0; layer < image_backbone_config::stages; ++layer) {
    const index_t planes = c.planes(layer), out = c.layer_channels(layer);
    for (index_t block = 0; block < c.blocks[static_cast<std::size_t>(layer)]; ++block) {
      const auto in_size = size;
      if (block == 0 && layer > 0) size = halve(size);  // the stride is on the 3×3 convolution
      conv(in_size, channels, planes, 1);
      conv(size, planes, planes, 9);
      conv(size, planes, out, 1);
      if (block == 0) conv(size, channels, out, 1);  // the downsample branch
      channels = out;
    }
  }
  conv(size, channels, c.neck_channels, 1);
  conv(size, c.neck_channels, c.neck_channels, 9);
  return total;
}

void image_backbone(benchmark::State& state) {
  const index_t images = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const image_backbone_config config;
  // The pipeline packs its own copy of the weights: the store is released once it is built, as a program would.
  image_pipeline<cpu_executor, float> network(cpu_executor{threads}, config,
                                              image_backbone_store<float>::random(config, 1).parameters());
  // Camera-sized 8-bit images (KITTI's 376 × 1241), cropped by the pipeline.
  constexpr index_t height = 376, width = 1241;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(images * height * width * 3));
  std::mt19937 gen(7);
  for (auto& p : pixels) p = static_cast<std::uint8_t>(gen() >> 24);
  const auto [h, w] = config.feature_shape();
  std::vector<float> features(static_cast<std::size_t>(images * config.neck_channels * h * w));
  const auto in = make_view<4>(static_cast<const std::uint8_t*>(pixels.data()), {images, height, width, 3});
  const auto out = make_view<4>(features.data(), {images, config.neck_channels, h, w});
  bench::fma_peak_per_thread();
  network.run(in, out);  // warm-up: first touches of the buffers
  std::vector<double> stage_ms(network.report().stages.size(), 0.0);
  for (auto _ : state) {
    const auto& report = network.run(in, out);
    for (std::size_t s = 0; s < stage_ms.size(); ++s) stage_ms[s] += report.stages[s].milliseconds;
    benchmark::ClobberMemory();
  }
  const double runs = static_cast<double>(state.iterations()), per_image = runs * static_cast<double>(images);
  const double flop = 2.0 * multiply_adds(config) * per_image;
  state.counters["GFLOP/s"] = benchmark::Counter(flop / 1e9, benchmark::Counter::kIsRate);
  state.counters["of_peak"] = benchmark::Counter(flop / (bench::fma_peak_per_thread() * threads), benchmark::Counter::kIsRate);
  double total_ms = 0;
  for (const double ms : stage_ms) total_ms += ms;
  state.counters["ms_per_image"] = total_ms / per_image;
  for (std::size_t s = 0; s < stage_ms.size(); ++s)
    state.counters[network.report().stages[s].name + "_ms"] = stage_ms[s] / per_image;
}

BENCHMARK(image_backbone)->ArgNames({"images", "threads"})->ArgsProduct({{1, 5}, {2, 1}})->UseRealTime()
    ->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
