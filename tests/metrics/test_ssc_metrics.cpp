// SSC metrics against the NumPy restatement of VoxFormer's SSCMetrics (tests/reference/ssc_metrics_reference.py,
// fixtures in tests/fixtures/metrics/), hand-worked cases, the evaluation ranges, argument errors that count
// nothing, and merging.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/error_of.hpp"
#include "support/fixtures.hpp"
#include "voxformer/adapters/eigen.hpp"
#include "voxformer/metrics/ssc_metrics.hpp"

namespace {

using test::error_of;
using voxformer::eval_range;
using voxformer::index_t;
using voxformer::make_view;
using voxformer::ssc_counts;
using voxformer::ssc_metrics;

using volume = std::vector<std::uint8_t>;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

ssc_counts counts(const nlohmann::json& tp, const nlohmann::json& fp, const nlohmann::json& fn) {
  return {tp.get<std::int64_t>(), fp.get<std::int64_t>(), fn.get<std::int64_t>()};
}

//! Every count and score of `m` against the reference's JSON (counts exact, scores within 1e-6).
void expect_matches(const ssc_metrics& m, const nlohmann::json& e) {
  ASSERT_EQ(m.classes(), e["classes"].get<index_t>());
  EXPECT_EQ(m.frames(), e["frames"].get<std::int64_t>());
  const auto& c = e["completion"];
  EXPECT_EQ(m.completion(), counts(c["tp"], c["fp"], c["fn"]));
  for (index_t k = 0; k < m.classes(); ++k) {
    const auto i = static_cast<std::size_t>(k);
    EXPECT_EQ(m.semantic(k), counts(e["tp"][i], e["fp"][i], e["fn"][i])) << "class " << k;
    EXPECT_NEAR(m.class_iou(k), e["class_iou"][i].get<double>(), 1e-6) << "class " << k;
  }
  EXPECT_NEAR(m.precision(), e["precision"].get<double>(), 1e-6);
  EXPECT_NEAR(m.recall(), e["recall"].get<double>(), 1e-6);
  EXPECT_NEAR(m.iou(), e["iou"].get<double>(), 1e-6);
  EXPECT_NEAR(m.miou(), e["miou"].get<double>(), 1e-6);
}

class MetricsFixture : public testing::TestWithParam<const char*> {};

TEST_P(MetricsFixture, MatchesTheReference) {
  const std::string group = std::string("metrics/") + GetParam();
  const auto prediction = test::load_fixture(group, "prediction");
  const auto truth = test::load_fixture(group, "ground_truth");
  const auto expected = read_json(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / group / "expected.json");
  const auto shape = test::fixture_shape<4>(truth);
  ASSERT_EQ(test::fixture_shape<4>(prediction), shape);
  const index_t frame = shape[1] * shape[2] * shape[3];
  ssc_metrics m(expected["classes"].get<index_t>());
  for (index_t f = 0; f < shape[0]; ++f)
    m.add(make_view<3>(prediction.data<std::uint8_t>() + f * frame, {shape[1], shape[2], shape[3]}),
          make_view<3>(truth.data<std::uint8_t>() + f * frame, {shape[1], shape[2], shape[3]}));
  expect_matches(m, expected);
}

INSTANTIATE_TEST_SUITE_P(Cases, MetricsFixture,
                         testing::Values("random_frames", "hand_built", "no_true_positive", "absent_class",
                                         "prediction_only_class", "all_ignored_frame", "only_ignored"));

//! ssc_metrics_reference.hashed_volumes, restated: the real-size frames of fixtures/metrics/range_256.
std::pair<volume, volume> hashed_volumes(std::size_t voxels, std::uint32_t seed) {
  volume prediction(voxels), truth(voxels);
  for (std::size_t k = 0; k < voxels; ++k) {
    std::uint32_t h = static_cast<std::uint32_t>(k) * 2654435761u + seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    const std::uint32_t t = (h >> 8) % 23;
    truth[k] = t >= 20 ? 255 : static_cast<std::uint8_t>(t);
    prediction[k] = ((h >> 4) & 1) && t < 20 ? truth[k] : static_cast<std::uint8_t>((h >> 16) % 20);
  }
  return {prediction, truth};
}

TEST(SscMetrics, EvaluationRangesOnTheBenchmarkGrid) {
  const auto expected = read_json(std::filesystem::path(VOXFORMER_TEST_FIXTURES_DIR) / "metrics/range_256/expected.json");
  std::vector<std::pair<volume, volume>> frames;
  for (const auto& seed : expected["seeds"]) frames.push_back(hashed_volumes(256 * 256 * 32, seed.get<std::uint32_t>()));
  for (const auto& [metres, range] : {std::pair{"51.2", eval_range::metres_51_2},
                                      std::pair{"25.6", eval_range::metres_25_6},
                                      std::pair{"12.8", eval_range::metres_12_8}}) {
    SCOPED_TRACE(metres);
    ssc_metrics m(20, range);
    for (const auto& [prediction, truth] : frames)
      m.add(make_view<3>(prediction.data(), {256, 256, 32}), make_view<3>(truth.data(), {256, 256, 32}));
    expect_matches(m, expected["ranges"][metres]);
  }
}

TEST(SscMetrics, RangeBoundariesOnTheBenchmarkGrid) {
  // spec §5.3: 25.6 m keeps x < 128 and 64 ≤ y < 192; 12.8 m keeps x < 64 and 96 ≤ y < 160.
  const struct {
    eval_range range;
    index_t x_end, y_begin, y_end;
  } cases[] = {{eval_range::metres_51_2, 256, 0, 256}, {eval_range::metres_25_6, 128, 64, 192},
               {eval_range::metres_12_8, 64, 96, 160}};
  volume empty(256 * 256 * 32, 0);
  for (const auto& c : cases) {
    volume truth = empty;
    const auto at = [&](index_t x, index_t y) -> std::uint8_t& { return truth[static_cast<std::size_t>((x * 256 + y) * 32 + 5)]; };
    // One occupied voxel just inside and one just outside each boundary.
    at(c.x_end - 1, 128) = 1;
    at(0, c.y_begin) = 2;
    at(0, c.y_end - 1) = 3;
    if (c.x_end < 256) at(c.x_end, 128) = 4;
    if (c.y_begin > 0) at(0, c.y_begin - 1) = 5;
    if (c.y_end < 256) at(0, c.y_end) = 6;
    ssc_metrics m(20, c.range);
    m.add(make_view<3>(empty.data(), {256, 256, 32}), make_view<3>(truth.data(), {256, 256, 32}));
    EXPECT_EQ(m.voxels(), c.x_end * (c.y_end - c.y_begin) * 32);
    EXPECT_EQ(m.completion(), (ssc_counts{0, 0, 3}));
    for (index_t k = 1; k <= 3; ++k) EXPECT_EQ(m.semantic(k).fn, 1) << k;
    for (index_t k = 4; k <= 6; ++k) EXPECT_EQ(m.semantic(k).fn, 0) << k;
  }
}

TEST(SscMetrics, RangesOnOtherGridsFollowTheDocumentedRule) {
  // d = 51.2 / r; voxel (x, y, z) counts iff d·x < X and (d − 1)·Y ≤ 2d·y < (d + 1)·Y.
  std::mt19937 rng(3);
  for (const auto extents : {std::array<index_t, 3>{9, 13, 3}, std::array<index_t, 3>{1, 1, 2},
                             std::array<index_t, 3>{16, 8, 1}, std::array<index_t, 3>{7, 5, 4}}) {
    const auto voxels = static_cast<std::size_t>(extents[0] * extents[1] * extents[2]);
    volume prediction(voxels), truth(voxels);
    for (auto& v : prediction) v = static_cast<std::uint8_t>(rng() % 4);
    for (auto& v : truth) v = static_cast<std::uint8_t>(rng() % 5 == 4 ? 255 : rng() % 4);
    for (const auto range : {eval_range::metres_51_2, eval_range::metres_25_6, eval_range::metres_12_8}) {
      const index_t d = index_t{1} << static_cast<int>(range);
      std::array<std::int64_t, 16> brute{};
      for (index_t x = 0; x < extents[0]; ++x)
        for (index_t y = 0; y < extents[1]; ++y)
          for (index_t z = 0; z < extents[2]; ++z) {
            const auto k = static_cast<std::size_t>((x * extents[1] + y) * extents[2] + z);
            const bool inside = d * x < extents[0] && (d - 1) * extents[1] <= 2 * d * y && 2 * d * y < (d + 1) * extents[1];
            if (inside && truth[k] != 255) ++brute[static_cast<std::size_t>(truth[k] * 4 + prediction[k])];
          }
      ssc_metrics m(4, range);
      m.add(make_view<3>(prediction.data(), extents), make_view<3>(truth.data(), extents));
      for (index_t t = 0; t < 4; ++t)
        for (index_t p = 0; p < 4; ++p)
          EXPECT_EQ(m.confusion(t, p), brute[static_cast<std::size_t>(t * 4 + p)])
              << extents[0] << "x" << extents[1] << "x" << extents[2] << " at " << voxformer::to_metres(range);
    }
  }
}

TEST(SscMetrics, HandWorkedScores) {
  // truth → prediction per voxel: 0→0, 0→1, 1→1, 1→2, 2→2, 2→0, ignored→7 (not read), 3→3.
  const volume truth = {0, 0, 1, 1, 2, 2, 255, 3};
  const volume prediction = {0, 1, 1, 2, 2, 0, 7, 3};
  ssc_metrics m(4);
  m.add(make_view<3>(prediction.data(), {2, 2, 2}), make_view<3>(truth.data(), {2, 2, 2}));
  EXPECT_EQ(m.voxels(), 7);
  EXPECT_EQ(m.completion(), (ssc_counts{4, 1, 1}));
  EXPECT_EQ(m.semantic(0), (ssc_counts{1, 1, 1}));
  EXPECT_EQ(m.semantic(3), (ssc_counts{1, 0, 0}));
  EXPECT_EQ(m.confusion(1, 2), 1);
  EXPECT_EQ(m.confusion(2, 1), 0);
  EXPECT_DOUBLE_EQ(m.precision(), 0.8);
  EXPECT_DOUBLE_EQ(m.recall(), 0.8);
  EXPECT_DOUBLE_EQ(m.iou(), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.class_iou(1), 1.0 / (3.0 + 1e-5));
  EXPECT_DOUBLE_EQ(m.class_iou(3), 1.0 / (1.0 + 1e-5));
  EXPECT_DOUBLE_EQ(m.miou(), (2.0 / (3.0 + 1e-5) + 1.0 / (1.0 + 1e-5)) / 3.0);
  EXPECT_EQ(m.class_ious().size(), 4u);

  // Precision and recall apart: 2 TP, 1 FP, 3 FN.
  const volume truth2 = {1, 1, 1, 1, 1, 0};
  const volume prediction2 = {1, 1, 0, 0, 0, 2};
  ssc_metrics m2(3);
  m2.add(make_view<3>(prediction2.data(), {1, 2, 3}), make_view<3>(truth2.data(), {1, 2, 3}));
  EXPECT_EQ(m2.completion(), (ssc_counts{2, 1, 3}));
  EXPECT_DOUBLE_EQ(m2.precision(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m2.recall(), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(m2.iou(), 2.0 / 6.0);
  EXPECT_EQ(m2.semantic(1), (ssc_counts{2, 0, 3}));
  EXPECT_EQ(m2.semantic(2), (ssc_counts{0, 1, 0}));
}

TEST(SscMetrics, NoFramesScoresZero) {
  const ssc_metrics m;
  EXPECT_EQ(m.classes(), 20);
  EXPECT_EQ(m.frames(), 0);
  EXPECT_EQ(m.precision(), 0.0);
  EXPECT_EQ(m.iou(), 0.0);
  EXPECT_EQ(m.miou(), 0.0);
  const volume none;
  ssc_metrics e;
  e.add(make_view<3>(none.data(), {0, 256, 32}), make_view<3>(none.data(), {0, 256, 32}));
  EXPECT_EQ(e.frames(), 1);
  EXPECT_EQ(e.voxels(), 0);
}

TEST(SscMetrics, ErrorsCountNothing) {
  const volume truth = {0, 1, 2, 255, 3, 4, 5, 19};
  const volume good = {0, 1, 2, 200, 3, 4, 5, 19};  // 200 where nothing is evaluated
  ssc_metrics m;
  m.add(make_view<3>(good.data(), {2, 2, 2}), make_view<3>(truth.data(), {2, 2, 2}));
  const ssc_metrics before = m;
  const auto unchanged = [&] {
    EXPECT_EQ(m.frames(), before.frames());
    for (index_t t = 0; t < 20; ++t)
      for (index_t p = 0; p < 20; ++p) EXPECT_EQ(m.confusion(t, p), before.confusion(t, p));
  };

  volume bad_prediction = good;
  bad_prediction[5] = 20;
  EXPECT_EQ(error_of([&] {
              m.add(make_view<3>(bad_prediction.data(), {2, 2, 2}), make_view<3>(truth.data(), {2, 2, 2}));
            }),
            "voxformer::ssc_metrics::add: prediction 20 at voxel (1, 0, 1) is not a class (0..19)");
  unchanged();
  volume bad_truth = truth;
  bad_truth[6] = 254;
  EXPECT_EQ(error_of([&] { m.add(make_view<3>(good.data(), {2, 2, 2}), make_view<3>(bad_truth.data(), {2, 2, 2})); }),
            "voxformer::ssc_metrics::add: ground truth 254 at voxel (1, 1, 0) is neither a class (0..19) nor 255 "
            "(ignore)");
  unchanged();
  EXPECT_EQ(error_of([&] { m.add(make_view<3>(good.data(), {2, 2, 2}), make_view<3>(truth.data(), {2, 4, 1})); }),
            "voxformer::ssc_metrics::add: argument 'prediction' [X, Y, Z] expected shape [2, 4, 1], got [2, 2, 2]");
  unchanged();
  EXPECT_CONTAINS(error_of([&] {
                    m.add(make_view<3>(good.data(), {2, 2, 2}, voxformer::memory_space::device),
                          make_view<3>(truth.data(), {2, 2, 2}));
                  }),
                  "voxformer::ssc_metrics::add: argument 'prediction' lives in device 0 memory; ssc_metrics reads host "
                  "memory");
  unchanged();
  // A bad value outside the evaluation range is not read.
  volume far = good;
  far[7] = 99;  // voxel (1, 1, 1): x = 1 ≥ 2/2 is outside 25.6 m
  ssc_metrics cropped(20, eval_range::metres_25_6);
  cropped.add(make_view<3>(far.data(), {2, 2, 2}), make_view<3>(truth.data(), {2, 2, 2}));
  EXPECT_EQ(cropped.voxels(), 1);  // x = 0 and 2 ≤ 4y < 6, y = 1: voxels (0, 1, 0) and (0, 1, 1), the second ignored
}

TEST(SscMetrics, ArgumentsOfTheAccumulator) {
  EXPECT_EQ(error_of([] { ssc_metrics m(1); }),
            "voxformer::ssc_metrics: 1 classes, expected 2..255 (class 0 is empty space, 255 marks ignored voxels)");
  EXPECT_CONTAINS(error_of([] { ssc_metrics m(256); }), "256 classes, expected 2..255");
  EXPECT_NO_THROW(ssc_metrics(255));
  EXPECT_EQ(error_of([] { (void)ssc_metrics().confusion(20, 0); }), "voxformer::ssc_metrics: class 20 is not in 0..19");
  EXPECT_EQ(voxformer::eval_range_from_metres(51.2), eval_range::metres_51_2);
  EXPECT_EQ(voxformer::eval_range_from_metres(25.6), eval_range::metres_25_6);
  EXPECT_EQ(voxformer::eval_range_from_metres(12.8), eval_range::metres_12_8);
  EXPECT_EQ(voxformer::to_metres(eval_range::metres_12_8), 12.8);
  EXPECT_EQ(error_of([] { (void)voxformer::eval_range_from_metres(30); }),
            "voxformer::eval_range_from_metres: 30 m is not an evaluation range (51.2, 25.6 or 12.8)");
  EXPECT_CONTAINS(error_of([] { (void)voxformer::eval_range_from_metres(6.4); }), "6.4 m is not an evaluation range");
}

TEST(SscMetrics, MergeIsAddingTheFrames) {
  std::mt19937 rng(11);
  std::vector<std::pair<volume, volume>> frames(5);
  for (auto& [prediction, truth] : frames) {
    prediction.resize(6 * 5 * 4);
    truth.resize(6 * 5 * 4);
    for (auto& v : prediction) v = static_cast<std::uint8_t>(rng() % 20);
    for (auto& v : truth) v = static_cast<std::uint8_t>(rng() % 8 == 0 ? 255 : rng() % 20);
  }
  ssc_metrics all(20, eval_range::metres_25_6), first(20, eval_range::metres_25_6), second(20, eval_range::metres_25_6);
  for (std::size_t f = 0; f < frames.size(); ++f) {
    const auto p = make_view<3>(frames[f].first.data(), {6, 5, 4});
    const auto t = make_view<3>(frames[f].second.data(), {6, 5, 4});
    all.add(p, t);
    (f < 2 ? first : second).add(p, t);
  }
  first.merge(second);
  EXPECT_EQ(first.frames(), 5);
  for (index_t t = 0; t < 20; ++t)
    for (index_t p = 0; p < 20; ++p) EXPECT_EQ(first.confusion(t, p), all.confusion(t, p));
  EXPECT_EQ(first.miou(), all.miou());
  EXPECT_CONTAINS(error_of([&] { first.merge(ssc_metrics(20)); }),
                  "voxformer::ssc_metrics::merge: 20 classes at 51.2 m into 20 classes at 25.6 m");
  EXPECT_CONTAINS(error_of([&] { first.merge(ssc_metrics(19, eval_range::metres_25_6)); }), "19 classes at 25.6 m");
  EXPECT_EQ(first.frames(), 5);
}

TEST(SscMetrics, AnyTensorAnyStrides) {
  // The same frame as a contiguous view, a transposed strided view, and an Eigen row-major TensorMap.
  std::mt19937 rng(5);
  volume prediction(3 * 4 * 5), truth(3 * 4 * 5);
  for (auto& v : prediction) v = static_cast<std::uint8_t>(rng() % 20);
  for (auto& v : truth) v = static_cast<std::uint8_t>(rng() % 6 == 0 ? 255 : rng() % 20);
  ssc_metrics plain;
  plain.add(make_view<3>(prediction.data(), {3, 4, 5}), make_view<3>(truth.data(), {3, 4, 5}));

  volume transposed(truth.size());  // stored [z][y][x], read through strides as [x][y][z]
  for (index_t x = 0; x < 3; ++x)
    for (index_t y = 0; y < 4; ++y)
      for (index_t z = 0; z < 5; ++z)
        transposed[static_cast<std::size_t>((z * 4 + y) * 3 + x)] = truth[static_cast<std::size_t>((x * 4 + y) * 5 + z)];
  ssc_metrics strided;
  const Eigen::TensorMap<const Eigen::Tensor<const std::uint8_t, 3, Eigen::RowMajor>> eigen_prediction(
      prediction.data(), 3, 4, 5);
  strided.add(eigen_prediction, voxformer::tensor_view<const std::uint8_t, 3>(transposed.data(), {3, 4, 5}, {1, 3, 12}));
  for (index_t t = 0; t < 20; ++t)
    for (index_t p = 0; p < 20; ++p) EXPECT_EQ(strided.confusion(t, p), plain.confusion(t, p));
  EXPECT_GT(plain.voxels(), 0);
}

}  // namespace
