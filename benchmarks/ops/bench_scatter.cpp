// Mask-token scatter into the 262 144 × 128 volume with 20 000 proposals (VoxFormer-T), against a plain
// serial loop over the lists (the index_put formulation). items/s = volume elements written.
#include <benchmark/benchmark.h>

#include <vector>

#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"

namespace {

using namespace voxformer;
constexpr index_t voxels = 262144, channels = 128, proposals = 20000;

struct scatter_data {
  std::vector<std::int32_t> unmasked, masked;
  std::vector<float> seed = std::vector<float>(proposals * channels, 1.f), token = std::vector<float>(channels, 0.5f);
  std::vector<float> volume = std::vector<float>(voxels * channels);
  scatter_data() {
    for (index_t k = 0; k < voxels; ++k)  // every 13th voxel proposed, ~20 000 in all
      ((k % 13 == 0 && index_t(unmasked.size()) < proposals) ? unmasked : masked).push_back(static_cast<std::int32_t>(k));
  }
};

scatter_data& data() {
  static scatter_data d;
  return d;
}

void ours(benchmark::State& state) {
  auto& d = data();
  for (auto _ : state) {
    scatter_with_mask_token(cpu_executor{static_cast<int>(state.range(0))},
                            make_view<2>(d.seed.data(), {proposals, channels}),
                            make_view<1>(d.unmasked.data(), {proposals}), make_view<1>(d.token.data(), {channels}),
                            make_view<2>(d.volume.data(), {voxels, channels}));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * voxels * channels);
  state.SetBytesProcessed(state.iterations() * voxels * channels * index_t(sizeof(float)));
}

void reference_loop(benchmark::State& state) {
  auto& d = data();
  for (auto _ : state) {
    for (std::size_t i = 0; i < d.unmasked.size(); ++i)
      for (index_t c = 0; c < channels; ++c) d.volume[d.unmasked[i] * channels + c] = d.seed[i * channels + c];
    for (auto k : d.masked)
      for (index_t c = 0; c < channels; ++c) d.volume[k * channels + c] = d.token[c];
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * voxels * channels);
  state.SetBytesProcessed(state.iterations() * voxels * channels * index_t(sizeof(float)));
}

BENCHMARK(ours)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(reference_loop)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
