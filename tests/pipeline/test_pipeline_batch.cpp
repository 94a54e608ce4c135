// Batches: B frames with different proposals in one call give, frame for frame, what B calls give, and a batch
// is checked as a whole before any frame is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/frame_batch.hpp"
#include "support/pipeline_fixture.hpp"

using test::error_of;
using test::frame_batch;

namespace {

using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::make_view;

struct batch_case {
  test::pipeline_fixture f{std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "pipeline" / "t_small"};
  voxformer::parameter_store<float> store = f.weights();
  std::array<index_t, 3> grid = f.config.output_volume();
  index_t voxels = f.config.voxels(), out_voxels = f.config.output_voxels(), classes = f.config.classes;

  //! The fixture's proposal, none, and every voxel: three frames whose counts differ (62, 0, 192).
  std::vector<std::vector<std::uint8_t>> three_proposals() const {
    const std::uint8_t* mask = f.proposal.data<std::uint8_t>();
    return {std::vector<std::uint8_t>(mask, mask + voxels), std::vector<std::uint8_t>(static_cast<std::size_t>(voxels), 0),
            std::vector<std::uint8_t>(static_cast<std::size_t>(voxels), 1)};
  }
};

TEST(PipelineBatch, FramesWithDifferentProposalsEqualFramesRunOneByOne) {
  const batch_case c;
  const frame_batch batch(c.f, c.three_proposals());
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{2}, c.f.config, c.store.parameters());
  // The labels every other frame of a buffer of six (a batch stride of two frames), the logits packed.
  const auto frame_labels = static_cast<std::size_t>(c.out_voxels), frame_logits = frame_labels * c.classes;
  std::vector<std::uint8_t> labels(6 * frame_labels, 255);
  std::vector<float> logits(3 * frame_logits, NAN);
  const voxformer::tensor_view<std::uint8_t, 4> every_other_frame(
      labels.data(), {3, c.grid[0], c.grid[1], c.grid[2]}, {2 * c.out_voxels, c.grid[1] * c.grid[2], c.grid[2], 1});
  const auto reports = pipe.run_batch(batch.feature_views, batch.matrices(),
                                      make_view<2>(batch.proposals.data(), {3, c.voxels}), every_other_frame,
                                      make_view<5>(logits.data(), {3, c.classes, c.grid[0], c.grid[1], c.grid[2]}));
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].proposals, 62);
  EXPECT_EQ(reports[1].proposals, 0);
  EXPECT_EQ(reports[2].proposals, c.voxels);
  EXPECT_EQ(pipe.report().proposals, c.voxels);  // the last frame's
  voxformer::pipeline<cpu_executor, float> single(cpu_executor{2}, c.f.config, c.store.parameters());
  for (index_t b = 0; b < 3; ++b) {
    SCOPED_TRACE("frame " + std::to_string(b));
    std::vector<std::uint8_t> one_labels(frame_labels);
    std::vector<float> one_logits(frame_logits);
    const auto report = single.run(batch.frame_features(b), voxformer::leading_entry(batch.matrices(), b),
                                   make_view<1>(batch.proposals.data() + b * c.voxels, {c.voxels}),
                                   make_view<3>(one_labels.data(), c.grid),
                                   make_view<4>(one_logits.data(), {c.classes, c.grid[0], c.grid[1], c.grid[2]}));
    EXPECT_EQ(report.proposals, reports[b].proposals);
    EXPECT_EQ(report.visible_per_camera, reports[b].visible_per_camera);
    EXPECT_TRUE(std::equal(one_labels.begin(), one_labels.end(), labels.begin() + 2 * b * frame_labels));
    EXPECT_TRUE(std::all_of(labels.begin() + (2 * b + 1) * frame_labels, labels.begin() + (2 * b + 2) * frame_labels,
                            [](std::uint8_t v) { return v == 255; }));  // the frames between, untouched
    EXPECT_TRUE(std::equal(one_logits.begin(), one_logits.end(), logits.begin() + b * frame_logits));
  }
  // The frames differ (else the comparison above could not tell them apart).
  EXPECT_FALSE(std::equal(logits.begin(), logits.begin() + frame_logits, logits.begin() + frame_logits));
  // A batch of none writes nothing and reports nothing.
  std::vector<voxformer::tensor_view<const float, 5>> no_frames;
  for (const auto& level : batch.feature_views) no_frames.push_back(voxformer::leading_slice(level, 0, 0));
  EXPECT_TRUE(pipe.run_batch(no_frames, make_view<4>(batch.lidar2img.data(), {0, c.f.config.cameras, 4, 4}),
                             make_view<2>(batch.proposals.data(), {0, c.voxels}),
                             make_view<4>(labels.data(), {0, c.grid[0], c.grid[1], c.grid[2]}))
                  .empty());
}

TEST(PipelineBatch, TheWholeBatchIsCheckedBeforeAnyFrameIsWritten) {
  const batch_case c;
  const auto proposals = c.three_proposals();
  frame_batch batch(c.f, proposals);
  const std::string op = "voxformer::pipeline::run_batch: ";
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(3 * c.out_voxels), 77);
  const auto label_view = make_view<4>(labels.data(), {3, c.grid[0], c.grid[1], c.grid[2]});
  const auto masks = make_view<4>(static_cast<const std::uint8_t*>(batch.proposals.data()),
                                  {3, c.f.config.volume[0], c.f.config.volume[1], c.f.config.volume[2]});
  // Sized for the first frame's 62 proposals: the last frame's 192 are found before the first frame runs.
  voxformer::pipeline<cpu_executor, float> sized(cpu_executor{2}, c.f.config, c.store.parameters(), {62});
  EXPECT_EQ(error_of([&] { sized.run_batch(batch.feature_views, batch.matrices(), masks, label_view); }),
            op + "the proposal of frame 2 has 192 voxels, more than the max_proposals (62) this pipeline was built for");
  voxformer::pipeline<cpu_executor, float> pipe(cpu_executor{2}, c.f.config, c.store.parameters());
  // A non-finite feature in the last frame.
  batch.features[1].back() = NAN;
  EXPECT_EQ(error_of([&] { pipe.run_batch(batch.feature_views, batch.matrices(), masks, label_view); }),
            op + "argument 'features[1]' holds nan at [2, 1, 31, 2, 4]; every value must be finite");
  batch.features[1].back() = 0.f;
  // Every tensor's batch axis against the labels'.
  EXPECT_EQ(error_of([&] {
              pipe.run_batch(batch.feature_views, batch.matrices(), masks,
                             make_view<4>(labels.data(), {2, c.grid[0], c.grid[1], c.grid[2]}));
            }),
            op + "argument 'lidar2img' [B, cameras, 4, 4] expected shape [2, 2, 4, 4], got [3, 2, 4, 4]");
  EXPECT_EQ(error_of([&] {
              pipe.run_batch(batch.feature_views, batch.matrices(), make_view<2>(batch.proposals.data(), {2, c.voxels}),
                             label_view);
            }),
            op + "argument 'proposal' [B, X*Y*Z] expected shape [3, 192], got [2, 192]");
  auto two_frames = batch.feature_views;
  two_frames[0] = voxformer::leading_slice(two_frames[0], 0, 2);
  EXPECT_EQ(error_of([&] { pipe.run_batch(two_frames, batch.matrices(), masks, label_view); }),
            op + "argument 'features[0]' [B, cameras, C, h, w] expected shape [3, 2, 32, 6, 10], got [2, 2, 32, 6, 10]");
  // Frames of an output on top of one another (a batch stride of 0).
  const voxformer::tensor_view<std::uint8_t, 4> one_frame_thrice(labels.data(), {3, c.grid[0], c.grid[1], c.grid[2]},
                                                                 {0, c.grid[1] * c.grid[2], c.grid[2], 1});
  EXPECT_EQ(error_of([&] { pipe.run_batch(batch.feature_views, batch.matrices(), masks, one_frame_thrice); }),
            op + "output 'labels' addresses some elements more than once (stride 0 of a dimension of extent 3): zero or "
                 "overlapping strides cannot be written");
  // Frames of a proposal must each be contiguous (a frame is addressed by its flat voxel index).
  const voxformer::tensor_view<const std::uint8_t, 2> every_other(batch.proposals.data(), {3, c.voxels}, {c.voxels, 2});
  EXPECT_EQ(error_of([&] { pipe.run_batch(batch.feature_views, batch.matrices(), every_other, label_view); }),
            op + "argument 'proposal' must be contiguous within each frame (a frame is addressed by its C-order flat "
                 "index)");
  EXPECT_EQ(std::count(labels.begin(), labels.end(), 77), static_cast<long>(labels.size()));
}

}  // namespace
