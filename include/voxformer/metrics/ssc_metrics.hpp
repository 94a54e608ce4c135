//! @file Semantic scene completion scores accumulated over a dataset (VoxFormer's SSCMetrics, spec §5.3–§5.4):
//! completion precision / recall / IoU of occupied (class > 0) voxels and the per-class IoU and mIoU, from one
//! confusion matrix summed over all frames — dataset-level sums, not per-frame means.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "voxformer/core/config.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/memory_space.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"

namespace voxformer {

//! SemanticKITTI's evaluation ranges (spec §5.3), in metres ahead of the sensor. Range r keeps the voxels whose
//! lowest corner lies in [0, r) ahead and [−r/2, r/2) to the side of the 51.2 m × 51.2 m grid: on an X×Y×Z grid,
//! with d = 51.2/r, voxel (x, y, z) counts iff d·x < X and (d−1)·Y ≤ 2d·y < (d+1)·Y. On 256×256×32 that is
//! everything (51.2), x < 128 and 64 ≤ y < 192 (25.6), x < 64 and 96 ≤ y < 160 (12.8) — the original's crop.
enum class eval_range : std::uint8_t { metres_51_2, metres_25_6, metres_12_8 };

//! 51.2, 25.6 or 12.8; any other value throws.
inline eval_range eval_range_from_metres(double metres) {
  for (const auto r : {eval_range::metres_51_2, eval_range::metres_25_6, eval_range::metres_12_8})
    if (std::abs(metres - 51.2 / (1 << static_cast<int>(r))) < 1e-9) return r;
  detail::fail("voxformer::eval_range_from_metres: ", metres, " m is not an evaluation range (51.2, 25.6 or 12.8)");
}

inline double to_metres(eval_range range) { return 51.2 / (1 << static_cast<int>(range)); }

//! True positives, false positives and false negatives, summed over a dataset.
struct ssc_counts {
  std::int64_t tp = 0, fp = 0, fn = 0;
  friend bool operator==(const ssc_counts&, const ssc_counts&) = default;
};

//! Accumulates frames of predicted and ground-truth classes ([X, Y, Z] uint8, any tensor the library knows, in
//! host memory). Ground truth 255 marks a voxel that is not evaluated; so does every voxel outside the range.
class ssc_metrics {
 public:
  static constexpr std::uint8_t ignore = 255;

  //! `classes` from 2 to 255: class 0 is empty space, and 255 marks ignored voxels.
  explicit ssc_metrics(index_t classes = 20, eval_range range = eval_range::metres_51_2)
      : classes_(classes), range_(range) {
    detail::require(classes >= 2 && classes <= 255, "voxformer::ssc_metrics: ", classes,
                    " classes, expected 2..255 (class 0 is empty space, 255 marks ignored voxels)");
    confusion_.assign(static_cast<std::size_t>(classes * classes), 0);
  }

  //! Counts one frame. Shapes must match; each evaluated voxel's ground truth must be a class or 255 and its
  //! prediction a class (a prediction where nothing is evaluated may hold anything). On any error — naming the
  //! first offending voxel — nothing is counted.
  template <class Prediction, class GroundTruth>
  void add(Prediction&& prediction, GroundTruth&& ground_truth) {
    constexpr std::string_view op = "voxformer::ssc_metrics::add";
    const auto p = as_view<const std::uint8_t, 3>(prediction, op, "prediction");
    const auto g = as_view<const std::uint8_t, 3>(ground_truth, op, "ground_truth");
    expect_shape(op, "prediction", "[X, Y, Z]", p, g.extents());
    for (const auto& [arg, space] : {std::pair{"prediction", p.space()}, std::pair{"ground_truth", g.space()}})
      detail::require(host_accessible(space), op, ": argument '", arg, "' lives in ", to_string(space),
                      " memory; ssc_metrics reads host memory");

    // One pass into a 256×256 table indexed [truth][prediction] by the raw bytes: no test per voxel; values that
    // are not classes are found in the table afterwards. Two copies of the table, alternating voxels: runs of equal
    // voxels (empty space, mostly) would otherwise increment one counter back to back, each increment waiting for
    // the previous one's store (≈ 1.8× slower on an all-empty 256×256×32 frame).
    constexpr std::size_t half = 256 * 256;
    std::vector<std::int64_t> table(2 * half, 0);
    if (!g.empty()) {
      const index_t ps = p.stride(2), gs = g.stride(2), depth = g.extent(2);
      const auto key = [](std::uint8_t truth, std::uint8_t predicted) {
        return static_cast<std::size_t>(truth) << 8 | predicted;
      };
      for_each_row(g, [&](index_t x, index_t y) {
        const std::uint8_t* pr = &p(x, y, 0);
        const std::uint8_t* gr = &g(x, y, 0);
        index_t z = 0;
        for (; z + 1 < depth; z += 2) {
          ++table[key(gr[z * gs], pr[z * ps])];
          ++table[half + key(gr[(z + 1) * gs], pr[(z + 1) * ps])];
        }
        if (z < depth) ++table[key(gr[z * gs], pr[z * ps])];
      });
    }
    for (std::size_t i = 0; i < half; ++i) table[i] += table[half + i];
    const auto c = static_cast<std::size_t>(classes_);
    for (std::size_t t = 0; t < ignore; ++t)
      for (std::size_t q = 0; q < 256; ++q)
        if (table[t << 8 | q] != 0 && (t >= c || q >= c)) report_first_bad_voxel(op, p, g);
    for (std::size_t t = 0; t < c; ++t)
      for (std::size_t q = 0; q < c; ++q) confusion_[t * c + q] += table[t << 8 | q];
    ++frames_;
  }

  //! Adds another accumulator's frames (same classes and range): the result is that of adding all its frames here.
  void merge(const ssc_metrics& other) {
    detail::require(other.classes_ == classes_ && other.range_ == range_, "voxformer::ssc_metrics::merge: ",
                    other.classes_, " classes at ", to_metres(other.range_), " m into ", classes_, " classes at ",
                    to_metres(range_), " m");
    for (std::size_t i = 0; i < confusion_.size(); ++i) confusion_[i] += other.confusion_[i];
    frames_ += other.frames_;
  }

  index_t classes() const { return classes_; }
  eval_range range() const { return range_; }
  //! Frames added (an all-ignored frame counts as a frame).
  std::int64_t frames() const { return frames_; }
  //! Voxels evaluated: ground truth not 255, inside the range.
  std::int64_t voxels() const {
    std::int64_t n = 0;
    for (const auto v : confusion_) n += v;
    return n;
  }
  //! Evaluated voxels of ground-truth class `truth` predicted as `predicted`.
  std::int64_t confusion(index_t truth, index_t predicted) const {
    return confusion_[static_cast<std::size_t>(checked(truth) * classes_ + checked(predicted))];
  }

  //! Occupancy (class > 0) against occupancy.
  ssc_counts completion() const {
    ssc_counts s;
    for (index_t t = 0; t < classes_; ++t)
      for (index_t q = 0; q < classes_; ++q) {
        const auto n = confusion(t, q);
        if (t > 0 && q > 0) s.tp += n;
        else if (t == 0 && q > 0) s.fp += n;
        else if (t > 0 && q == 0) s.fn += n;
      }
    return s;
  }

  //! Class `c` against the rest: tp = #(gt = c ∧ pred = c), fp = #(gt ≠ c ∧ pred = c), fn = #(gt = c ∧ pred ≠ c).
  ssc_counts semantic(index_t c) const {
    ssc_counts s;
    s.tp = confusion(c, c);
    for (index_t other = 0; other < classes_; ++other) {
      s.fp += confusion(other, c);
      s.fn += confusion(c, other);
    }
    s.fp -= s.tp;
    s.fn -= s.tp;
    return s;
  }

  //! Completion scores; all three are 0 while there is no true positive (the original's rule).
  double precision() const { return completion_ratio([](const ssc_counts& s) { return s.tp + s.fp; }); }
  double recall() const { return completion_ratio([](const ssc_counts& s) { return s.tp + s.fn; }); }
  double iou() const { return completion_ratio([](const ssc_counts& s) { return s.tp + s.fp + s.fn; }); }

  //! TP/(TP + FP + FN + 1e-5): 0 for a class absent from ground truth and predictions alike.
  double class_iou(index_t c) const {
    const auto s = semantic(c);
    return static_cast<double>(s.tp) / (static_cast<double>(s.tp + s.fp + s.fn) + 1e-5);
  }
  //! class_iou of every class, class 0 (empty) first.
  std::vector<double> class_ious() const {
    std::vector<double> out;
    for (index_t c = 0; c < classes_; ++c) out.push_back(class_iou(c));
    return out;
  }
  //! The mean class IoU over classes 1..classes−1 (empty space excluded; absent classes count as 0).
  double miou() const {
    double sum = 0;
    for (index_t c = 1; c < classes_; ++c) sum += class_iou(c);
    return sum / static_cast<double>(classes_ - 1);
  }

 private:
  index_t checked(index_t c) const {
    detail::require(c >= 0 && c < classes_, "voxformer::ssc_metrics: class ", c, " is not in 0..", classes_ - 1);
    return c;
  }

  template <class Denominator>
  double completion_ratio(Denominator denominator) const {
    const auto s = completion();
    return s.tp == 0 ? 0.0 : static_cast<double>(s.tp) / static_cast<double>(denominator(s));
  }

  //! Calls row(x, y) for every (x, y) column inside the range (spec §5.3; see eval_range).
  template <class Row>
  void for_each_row(const tensor_view<const std::uint8_t, 3>& g, Row&& row) const {
    const index_t d = index_t{1} << static_cast<int>(range_);
    // ⌈n·num/den⌉ without forming n·num (extents may be near 2^63).
    const auto scaled_ceil = [](index_t n, index_t num, index_t den) {
      return n / den * num + (n % den * num + den - 1) / den;
    };
    const index_t x_end = scaled_ceil(g.extent(0), 1, d);
    const index_t y_begin = scaled_ceil(g.extent(1), d - 1, 2 * d), y_end = scaled_ceil(g.extent(1), d + 1, 2 * d);
    for (index_t x = 0; x < x_end; ++x)
      for (index_t y = y_begin; y < y_end; ++y) row(x, y);
  }

  //! The error path: finds the first evaluated voxel (C order) whose ground truth or prediction is not a class.
  [[noreturn]] void report_first_bad_voxel(std::string_view op, const tensor_view<const std::uint8_t, 3>& p,
                                           const tensor_view<const std::uint8_t, 3>& g) const {
    for_each_row(g, [&](index_t x, index_t y) {
      for (index_t z = 0; z < g.extent(2); ++z) {
        const int truth = g(x, y, z), predicted = p(x, y, z);
        if (truth != ignore && truth >= classes_)
          detail::fail(op, ": ground truth ", truth, " at voxel (", x, ", ", y, ", ", z, ") is neither a class (0..",
                       classes_ - 1, ") nor 255 (ignore)");
        if (truth != ignore && predicted >= classes_)
          detail::fail(op, ": prediction ", predicted, " at voxel (", x, ", ", y, ", ", z, ") is not a class (0..",
                       classes_ - 1, ")");
      }
    });
    detail::fail(op, ": internal error: no voxel explains the counts");  // unreachable: the table came from them
  }

  index_t classes_;
  eval_range range_;
  std::int64_t frames_ = 0;
  std::vector<std::int64_t> confusion_;  // [truth][prediction], classes × classes
};

}  // namespace voxformer
