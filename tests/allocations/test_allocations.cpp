// A frame after the first allocates nothing: memory is sized at construction (the arena, the derived weights,
// the report), the CPU threads are a pool the pipeline keeps. Its own binary, because it replaces the global
// allocation functions to count every call of them.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "support/model_fixture.hpp"
#include "support/pipeline_fixture.hpp"
#include "support/qpn_fixture.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
void count() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

// The replacements pair malloc/aligned_alloc with free, which GCC cannot tell from its own built-in pairs.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t bytes) {
  count();
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t bytes, std::align_val_t alignment) {
  count();
  const auto a = static_cast<std::size_t>(alignment);
  if (void* p = std::aligned_alloc(a, (bytes + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t bytes) { return ::operator new(bytes); }
void* operator new[](std::size_t bytes, std::align_val_t alignment) { return ::operator new(bytes, alignment); }
// The nothrow forms too (the CPU buffers use one): an allocation function left out would not be counted.
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept {
  count();
  return std::malloc(bytes == 0 ? 1 : bytes);
}
void* operator new(std::size_t bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  count();
  const auto a = static_cast<std::size_t>(alignment);
  return std::aligned_alloc(a, (bytes + a - 1) / a * a);
}
void* operator new[](std::size_t bytes, const std::nothrow_t& tag) noexcept { return ::operator new(bytes, tag); }
void* operator new[](std::size_t bytes, std::align_val_t alignment, const std::nothrow_t& tag) noexcept {
  return ::operator new(bytes, alignment, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

TEST(Pipeline, AFrameAfterTheFirstAllocatesNothing) {
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto store = f.weights();
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.output_voxels()));
  std::vector<float> logits(static_cast<std::size_t>(f.config.output_voxels() * f.config.classes));
  const auto label_view = voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]});
  const auto logit_view = voxformer::make_view<4>(logits.data(), {f.config.classes, grid[0], grid[1], grid[2]});
  for (const auto layout : {voxformer::rebatch_layout::csr, voxformer::rebatch_layout::padded})
    for (int threads : {1, 2}) {
      voxformer::pipeline<voxformer::cpu_executor, float> pipe(voxformer::cpu_executor{threads}, f.config,
                                                               store.parameters(), {0, layout, 16});
      pipe.run(f.features, f.lidar2img, f.proposal, label_view, logit_view);
      allocations = 0;
      counting = true;
      pipe.run(f.features, f.lidar2img, f.proposal, label_view, logit_view);
      pipe.run(f.features, f.lidar2img, f.proposal, label_view);
      counting = false;
      EXPECT_EQ(allocations.load(), 0) << threads << " thread(s)";
      // The counter counts: constructing another pipeline allocates.
      counting = true;
      voxformer::pipeline<voxformer::cpu_executor, float> another(voxformer::cpu_executor{threads}, f.config,
                                                                  store.parameters());
      counting = false;
      EXPECT_GT(allocations.load(), 0);
    }
}

// A batch after the first of its size allocates nothing either (two frames: the fixture's, read twice through a
// batch stride of 0).
TEST(Pipeline, ABatchAfterTheFirstAllocatesNothing) {
  const test::pipeline_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small");
  const auto store = f.weights();
  using voxformer::make_view, voxformer::repeat_as_frames;
  std::vector<voxformer::tensor_view<const float, 5>> levels;
  for (const auto& level : f.features) {
    const auto& e = level.shape;
    levels.push_back(repeat_as_frames(make_view<4>(level.data<float>(), {e[1], e[2], e[3], e[4]}), 2));
  }
  const auto matrices = repeat_as_frames(make_view<3>(f.lidar2img.data<float>(), {f.config.cameras, 4, 4}), 2);
  const auto proposals = repeat_as_frames(make_view<1>(f.proposal.data<std::uint8_t>(), {f.config.voxels()}), 2);
  const auto grid = f.config.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(2 * f.config.output_voxels()));
  const auto label_view = voxformer::make_view<4>(labels.data(), {2, grid[0], grid[1], grid[2]});
  voxformer::pipeline<voxformer::cpu_executor, float> pipe(voxformer::cpu_executor{2}, f.config, store.parameters());
  pipe.run_batch(levels, matrices, proposals, label_view);
  allocations = 0;
  counting = true;
  pipe.run_batch(levels, matrices, proposals, label_view);
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_TRUE(std::equal(labels.begin(), labels.begin() + f.config.output_voxels(), labels.begin() + f.config.output_voxels()));
}

TEST(ProposalPipeline, AFrameAfterTheFirstAllocatesNothing) {
  const test::qpn_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "qpn" / "f16_32x24");
  const auto store = f.weights();
  const auto half = f.config.output_grid();
  const auto& g = f.config.grid;
  std::vector<std::uint8_t> proposal(static_cast<std::size_t>(f.config.output_voxels()));
  std::vector<float> logits(static_cast<std::size_t>(2 * f.config.output_voxels()));
  const auto grid = voxformer::make_view<3>(f.grid.data<std::uint8_t>(), {g[0], g[1], g[2]});
  const auto proposal_view = voxformer::make_view<3>(proposal.data(), {half[0], half[1], half[2]});
  const auto logit_view = voxformer::make_view<4>(logits.data(), {2, half[0], half[1], half[2]});
  for (int threads : {1, 2}) {
    voxformer::proposal_pipeline<voxformer::cpu_executor, float> qpn(voxformer::cpu_executor{threads}, f.config,
                                                                    store.parameters(), {100});
    qpn.run(grid, proposal_view, logit_view);
    allocations = 0;
    counting = true;
    qpn.run(grid, proposal_view, logit_view);
    qpn.run(grid, proposal_view);
    counting = false;
    EXPECT_EQ(allocations.load(), 0) << threads << " thread(s)";
  }
}

// The whole model, from camera images: a frame of K images and a streamed frame after the first allocate nothing
// (the report's per-camera counts, the stream's ring buffer and the parts' shared frame memory are all sized once).
TEST(VoxformerModel, AFrameAfterTheFirstAllocatesNothing) {
  const test::model_fixture f(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "model" / "t_images");
  const auto weights = f.load();
  const auto grid = f.config.head.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.head.output_voxels()));
  const auto label_view = voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]});
  const auto& s = f.images.shape;
  const auto images = voxformer::make_view<4>(f.images.data<std::uint8_t>(), {s[0], s[1], s[2], s[3]});
  const auto current = voxformer::make_view<4>(f.images.data<std::uint8_t>(), {1, s[1], s[2], s[3]});
  for (int threads : {1, 2}) {
    voxformer::voxformer_model<voxformer::cpu_executor, float> model(voxformer::cpu_executor{threads}, f.config,
                                                                    weights.parameters());
    model.run(images, f.lidar2img, f.proposal, label_view);
    model.run_stream(0, current, f.lidar2img, f.proposal, label_view);
    allocations = 0;
    counting = true;
    model.run(images, f.lidar2img, f.proposal, label_view);
    for (voxformer::index_t frame = 1; frame < 4; ++frame) model.run_stream(frame, current, f.lidar2img, f.proposal, label_view);
    counting = false;
    EXPECT_EQ(allocations.load(), 0) << threads << " thread(s)";
  }
}

}  // namespace
