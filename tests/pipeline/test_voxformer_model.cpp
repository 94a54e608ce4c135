// The whole model, images to labels: VoxFormer-S and -T (shape-reduced) against the PyTorch reference chain of
// tests/reference/generate_model_fixtures.py (the image path's reference feeding the head's), from one checkpoint
// in the official layout: the features within 1e-4 of the largest feature, every stage of the head within 1e-4
// absolute, labels equal where the reference's top two logits are apart. A stream fed frame by frame gives the same
// bits as recomputing every camera's image, with one backbone pass per frame instead of five, the sequence's start
// included; stage 1 composes with the head as run apart; bad configurations and streams are clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/backbone_fixture.hpp"
#include "support/error_of.hpp"
#include "support/model_fixture.hpp"
#include "support/tensor_families.hpp"

namespace {

using test::error_of;
using voxformer::cpu_executor;
using voxformer::index_t;

test::model_fixture fixture(const std::string& name) {
  return test::model_fixture(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "model" / name);
}

//! The model's outputs on a frame: every stage of the head, the labels, the logits and the image features.
struct model_outputs {
  test::pipeline_outputs head;
  std::vector<float> features;
};

template <class Run>
model_outputs run_frame(voxformer::voxformer_model<cpu_executor, float>& model, const voxformer::model_config& head,
                        const Run& run) {
  model_outputs out;
  model.head().observe([&](std::string_view stage, voxformer::tensor_view<const float, 2> output) {
    auto& values = out.head.stages[std::string(stage)];
    values.assign(output.data(), output.data() + output.size());
  });
  const auto grid = head.output_volume();
  out.head.labels.assign(static_cast<std::size_t>(head.output_voxels()), 255);
  out.head.logits.assign(static_cast<std::size_t>(head.output_voxels() * head.classes), NAN);
  out.head.report = run(voxformer::make_view<3>(out.head.labels.data(), {grid[0], grid[1], grid[2]}),
                        voxformer::make_view<4>(out.head.logits.data(), {head.classes, grid[0], grid[1], grid[2]}));
  const auto features = model.features();
  out.features.assign(features.data(), features.data() + features.size());
  return out;
}

TEST(VoxformerModel, ImagesToLabelsMatchTheReference) {
  for (const char* name : {"s_images", "t_images"}) {
    SCOPED_TRACE(name);
    const auto f = fixture(name);
    const auto weights = f.load();
    voxformer::voxformer_model<cpu_executor, float> model(cpu_executor{2}, f.config, weights.parameters());
    const auto ours = run_frame(model, f.config.head, [&](const auto& labels, const auto& logits) {
      return model.run(voxformer::make_view<4>(f.images.data<std::uint8_t>(), test::fixture_shape<4>(f.images)),
                       f.lidar2img, f.proposal, labels, logits);
    });
    test::expect_stage_close(ours.features, f.expected("features"), 1e-4, "features");
    test::expect_all_stages(f, f.config.head, ours.head);
    EXPECT_EQ(ours.head.report.proposals, model.report().proposals);
    EXPECT_EQ(model.report().stages.front().name, "image.preprocess");
  }
}

//! The image frame `frame` of a synthetic sequence: the fixture's camera images, shifted in value per frame.
std::vector<std::uint8_t> sequence_image(const test::model_fixture& f, index_t frame) {
  const auto& s = f.images.shape;  // [K, H, W, 3]
  const index_t pixels = s[1] * s[2] * 3;
  const index_t at = (frame % s[0] + s[0]) % s[0];  // a negative frame too (the tests' bad input)
  const std::uint8_t* first = f.images.data<std::uint8_t>() + at * pixels;
  std::vector<std::uint8_t> image(first, first + pixels);
  for (auto& u : image) u = static_cast<std::uint8_t>((u + 7 * (frame < 0 ? -frame : frame)) % 256);
  return image;
}

// VoxFormer-T's cameras are one camera at t, t−12, t−9, t−6, t−3: fed frame by frame, the model computes one image's
// features per frame and takes the others' from earlier frames — the same bits as computing all five every frame,
// including at the start, where a camera before frame 0 is the current frame.
TEST(VoxformerModel, AStreamEqualsRecomputingEveryCameraWithOneBackbonePassPerFrame) {
  const auto f = fixture("t_images");
  const auto weights = f.load();
  const auto& s = f.images.shape;
  voxformer::voxformer_model<cpu_executor, float> streamed(cpu_executor{2}, f.config, weights.parameters());
  voxformer::voxformer_model<cpu_executor, float> recomputed(cpu_executor{2}, f.config, weights.parameters());
  // A stream that starts labelling at frame 13, given the frames its cameras look back to (1 … 12) by keep_frame.
  voxformer::voxformer_model<cpu_executor, float> midway(cpu_executor{2}, f.config, weights.parameters());
  constexpr index_t midway_start = 13;
  index_t passes = 0;
  streamed.images().observe([&](std::string_view stage, index_t, auto) { passes += stage == "features"; });
  for (index_t frame = 0; frame < 16; ++frame) {
    SCOPED_TRACE("frame " + std::to_string(frame));
    const auto image = sequence_image(f, frame);
    passes = 0;
    const auto ours = run_frame(streamed, f.config.head, [&](const auto& labels, const auto& logits) {
      return streamed.run_stream(frame, voxformer::make_view<4>(image.data(), {1, s[1], s[2], 3}), f.lidar2img,
                                 f.proposal, labels, logits);
    });
    EXPECT_EQ(passes, 1);
    std::vector<std::uint8_t> batch;
    for (const index_t offset : f.config.temporal_offsets) {
      const auto camera = sequence_image(f, frame + offset >= 0 ? frame + offset : frame);
      batch.insert(batch.end(), camera.begin(), camera.end());
    }
    const auto all = run_frame(recomputed, f.config.head, [&](const auto& labels, const auto& logits) {
      return recomputed.run(voxformer::make_view<4>(batch.data(), {5, s[1], s[2], 3}), f.lidar2img, f.proposal, labels,
                            logits);
    });
    EXPECT_EQ(ours.features, all.features);
    EXPECT_EQ(ours.head.labels, all.head.labels);
    EXPECT_EQ(std::memcmp(ours.head.logits.data(), all.head.logits.data(), all.head.logits.size() * sizeof(float)), 0);
    if (frame == midway_start)
      for (index_t past = 1; past < midway_start; ++past) {
        const auto kept = sequence_image(f, past);
        midway.keep_frame(past, voxformer::make_view<4>(kept.data(), {1, s[1], s[2], 3}));
      }
    if (frame >= midway_start) {
      const auto late = run_frame(midway, f.config.head, [&](const auto& labels, const auto& logits) {
        return midway.run_stream(frame, voxformer::make_view<4>(image.data(), {1, s[1], s[2], 3}), f.lidar2img,
                                 f.proposal, labels, logits);
      });
      EXPECT_EQ(late.features, all.features);
      EXPECT_EQ(std::memcmp(late.head.logits.data(), all.head.logits.data(), all.head.logits.size() * sizeof(float)),
                0);
    }
  }
}

TEST(VoxformerModel, AStreamNeedsEveryFrameItsCamerasSee) {
  const auto f = fixture("t_images");
  const auto weights = f.load();
  const auto& s = f.images.shape;
  voxformer::voxformer_model<cpu_executor, float> model(cpu_executor{1}, f.config, weights.parameters());
  const auto grid = f.config.head.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.head.output_voxels()), 77);
  const auto label_view = voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]});
  auto feed = [&](index_t frame) {
    const auto image = sequence_image(f, frame);
    model.run_stream(frame, voxformer::make_view<4>(image.data(), {1, s[1], s[2], 3}), f.lidar2img, f.proposal,
                     label_view);
  };
  const std::string op = "voxformer::voxformer_model::run_stream: ";
  EXPECT_EQ(error_of([&] { feed(-1); }), op + "frame -1 is negative; a sequence's frames are 0, 1, 2, …");
  EXPECT_EQ(error_of([&] { feed(20); }),
            op + "camera 1 is frame 8 (offset -12), which this stream has not been given; give a sequence's frames in "
                 "order (keep_frame for those before a stream's first frame, or reset_stream() to start a new one)");
  EXPECT_EQ(std::count(labels.begin(), labels.end(), 77), static_cast<long>(labels.size()));
  for (index_t frame = 0; frame < 14; ++frame) feed(frame);  // 0 … 13: frame 14 sees 2, 5, 8, 11
  EXPECT_NO_THROW(feed(14));
  model.reset_stream();
  EXPECT_CONTAINS(error_of([&] { feed(15); }), "camera 1 is frame 3 (offset -12), which this stream has not been given");
  EXPECT_NO_THROW(feed(0));  // a new sequence
  model.reset_stream();
  for (index_t frame = 8; frame < 20; ++frame) {  // a stream that starts at frame 20: the frames before it kept
    const auto image = sequence_image(f, frame);
    model.keep_frame(frame, voxformer::make_view<4>(image.data(), {1, s[1], s[2], 3}));
  }
  EXPECT_NO_THROW(feed(20));
  const auto image = sequence_image(f, 0);
  EXPECT_EQ(error_of([&] { model.keep_frame(-3, voxformer::make_view<4>(image.data(), {1, s[1], s[2], 3})); }),
            "voxformer::voxformer_model::keep_frame: frame -3 is negative; a sequence's frames are 0, 1, 2, …");
}

// A runtime-typed tensor (DLPack) of another element type than the default — a float proposal, normalised float
// images — names it: run<ImageElement, SceneElement>. The results are those of the statically typed call.
TEST(VoxformerModel, RuntimeTypedTensorsNameTheirElementType) {
  const auto f = fixture("t_images");
  const auto weights = f.load();
  voxformer::voxformer_model<cpu_executor, float> model(cpu_executor{2}, f.config, weights.parameters());
  const auto images = voxformer::make_view<4>(f.images.data<std::uint8_t>(), test::fixture_shape<4>(f.images));
  const auto expected = run_frame(model, f.config.head, [&](const auto& labels, const auto& logits) {
    return model.run(images, f.lidar2img, f.proposal, labels, logits);
  });
  const auto& v = f.config.head.volume;
  std::vector<float> proposal(f.proposal.data<std::uint8_t>(), f.proposal.data<std::uint8_t>() + v[0] * v[1] * v[2]);
  for (auto& p : proposal) p = p > 0 ? 0.5f : -1.f;  // > 0 = proposed
  test::dlpack_tensor<3> scene(proposal.data(), {v[0], v[1], v[2]});
  // The images normalised as the image path does (float32, its order of operations), [K, 3, h, w].
  const auto& crop = f.config.image.crop;
  const index_t k = images.extent(0);
  std::vector<float> normalised(static_cast<std::size_t>(k * 3 * crop[0] * crop[1]));
  for (index_t i = 0; i < k; ++i)
    for (index_t c = 0; c < 3; ++c)
      for (index_t r = 0; r < crop[0]; ++r)
        for (index_t x = 0; x < crop[1]; ++x)
          normalised[static_cast<std::size_t>(((i * 3 + c) * crop[0] + r) * crop[1] + x)] =
              (static_cast<float>(images(i, r, x, c)) / 255.f - f.config.image.mean[static_cast<std::size_t>(c)]) /
              f.config.image.stddev[static_cast<std::size_t>(c)];
  test::dlpack_tensor<4> float_images(normalised.data(), {k, 3, crop[0], crop[1]});
  const auto ours = run_frame(model, f.config.head, [&](const auto& labels, const auto& logits) {
    return model.run<float, float>(float_images.tensor, f.lidar2img, scene.tensor, labels, logits);
  });
  EXPECT_EQ(ours.features, expected.features);
  EXPECT_EQ(ours.head.labels, expected.head.labels);
  // Without the names, the default element types (uint8) do not match the tensors': one clear error.
  std::vector<std::uint8_t> labels(expected.head.labels.size());
  const auto grid = f.config.head.output_volume();
  EXPECT_CONTAINS(error_of([&] {
                    model.run(images, f.lidar2img, scene.tensor, voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}));
                  }),
                  "float32");
}

// The parts run one after the other in one region of frame memory (the ImagesToLabels and stream tests hold their
// results to the reference and to recomputing); memory a part is given must hold a frame.
TEST(VoxformerModel, ThePartsShareOneFrameMemory) {
  const auto f = fixture("t_images");
  const auto weights = f.load();
  voxformer::voxformer_model<cpu_executor, float> model(cpu_executor{1}, f.config, weights.parameters());
  const std::size_t images = model.images().frame_memory_bytes(), head = model.head().frame_memory_bytes();
  const auto& s = f.images.shape;
  const auto image = sequence_image(f, 0);
  const auto grid = f.config.head.output_volume();
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(f.config.head.output_voxels()));
  const auto& report = model.run_stream(0, voxformer::make_view<4>(image.data(), {1, s[1], s[2], 3}), f.lidar2img,
                                        f.proposal, voxformer::make_view<3>(labels.data(), {grid[0], grid[1], grid[2]}));
  EXPECT_GT(images, 0u);
  EXPECT_LT(report.workspace_bytes, images + head);  // not the sum: one region
  EXPECT_GE(report.workspace_bytes, std::max(images, head));
  alignas(64) static std::byte small[256];
  EXPECT_EQ(error_of([&] { model.head().use_frame_memory(voxformer::workspace(small, sizeof small)); }),
            "voxformer::pipeline::use_frame_memory: a frame needs " + std::to_string(head) +
                " bytes, the memory given holds 256 bytes");
  EXPECT_CONTAINS(error_of([&] { model.images().use_frame_memory(voxformer::workspace()); }),
                  "voxformer::image_pipeline::use_frame_memory: a frame needs " + std::to_string(images) +
                      " bytes, the memory given is a sizing workspace");
}

// With stage 1, a frame's scene input is the occupancy: the model's labels are those of the head run on the proposal
// stage 1 makes of it.
TEST(VoxformerModel, StageOneProposesTheHeadsQueries) {
  const auto f = fixture("s_images");
  const auto weights = f.load();
  auto config = f.config;  // a query volume stage 1 can propose: twice it divides by 8 (three 2× poolings)
  config.head.volume = {8, 8, 4};
  config.head.view_shape = {16, 16};
  const auto& v = config.head.volume;
  config.stage1 = voxformer::qpn_config{{2 * v[0], 2 * v[1], 2 * v[2]}};
  const auto qpn = voxformer::qpn_parameter_store<float>::random(*config.stage1, 5);
  const auto head = voxformer::parameter_store<float>::random(config.head, 6);
  voxformer::voxformer_model_parameters<float> parameters{weights.image.parameters(), head.parameters(),
                                                          qpn.parameters()};
  voxformer::voxformer_model<cpu_executor, float> model(cpu_executor{2}, config, parameters);
  const auto& g = config.stage1->grid;
  std::vector<std::uint8_t> occupancy(static_cast<std::size_t>(g[0] * g[1] * g[2]));
  std::mt19937 random(3);
  for (auto& o : occupancy) o = random() % 5 == 0;
  const auto images = voxformer::make_view<4>(f.images.data<std::uint8_t>(), test::fixture_shape<4>(f.images));
  const auto with_stage1 = run_frame(model, config.head, [&](const auto& labels, const auto& logits) {
    return model.run(images, f.lidar2img, voxformer::make_view<3>(occupancy.data(), {g[0], g[1], g[2]}), labels, logits);
  });
  std::vector<std::uint8_t> proposal(static_cast<std::size_t>(config.head.voxels()));
  voxformer::proposal_pipeline<cpu_executor, float>(cpu_executor{2}, *config.stage1, qpn.parameters())
      .run(voxformer::make_view<3>(occupancy.data(), {g[0], g[1], g[2]}),
           voxformer::make_view<3>(proposal.data(), {v[0], v[1], v[2]}));
  auto without_stage1 = config;
  without_stage1.stage1.reset();
  voxformer::voxformer_model<cpu_executor, float> head_only(cpu_executor{2}, without_stage1,
                                                            {weights.image.parameters(), head.parameters()});
  const auto apart = run_frame(head_only, config.head, [&](const auto& labels, const auto& logits) {
    return head_only.run(images, f.lidar2img, voxformer::make_view<3>(proposal.data(), {v[0], v[1], v[2]}), labels,
                         logits);
  });
  EXPECT_GT(std::count(proposal.begin(), proposal.end(), 1), 0);
  EXPECT_EQ(with_stage1.head.labels, apart.head.labels);
  EXPECT_EQ(with_stage1.head.logits, apart.head.logits);
  EXPECT_EQ(model.report().stages.size(), head_only.report().stages.size() + model.stage1()->report().stages.size());
}

TEST(VoxformerModel, ConfigurationsThatDoNotFitTogetherAreErrors) {
  const auto f = fixture("s_images");
  const auto weights = f.load();
  const std::string where = "voxformer::voxformer_model_config: ";
  auto build = [&](const voxformer::voxformer_model_config& config) {
    return error_of([&] { voxformer::voxformer_model<cpu_executor, float>(cpu_executor{1}, config, weights.parameters()); });
  };
  auto config = f.config;
  config.image.neck_channels = 2 * config.head.embed_dims;
  EXPECT_CONTAINS(build(config), where + "the head's embed_dims (" + std::to_string(config.head.embed_dims) +
                                     ") must be the image features' channels, neck_channels (");
  config = f.config;
  config.image.crop[1] += 32;
  EXPECT_CONTAINS(build(config), "feature level(s) of");
  config = f.config;
  config.temporal_offsets = {0, -3};
  EXPECT_CONTAINS(build(config), where + "2 temporal offsets for the head's 1 cameras");
  config = f.config;
  config.temporal_offsets = {2};
  EXPECT_CONTAINS(build(config), "temporal offsets must be distinct, 0 or past frames");
  config = f.config;
  config.stage1 = voxformer::qpn_config{{64, 64, 8}};
  EXPECT_CONTAINS(build(config), "must be the head's query volume");
  config.head.volume = {8, 8, 4};
  config.head.view_shape = {16, 16};
  config.stage1 = voxformer::qpn_config{{16, 16, 8}};
  const auto head = voxformer::parameter_store<float>::random(config.head, 6);
  EXPECT_EQ(error_of([&] {
              voxformer::voxformer_model<cpu_executor, float>(cpu_executor{1}, config,
                                                              {weights.image.parameters(), head.parameters()});
            }),
            "voxformer::voxformer_model: the configuration has stage 1, but its parameters are missing");
}

}  // namespace
