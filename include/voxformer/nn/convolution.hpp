//! @file A convolution over channels-first volumes [C, D0, D1, D2] — PyTorch's own layout without the batch axis:
//! (C, D, H, W) for Conv3d, and (C, 1, H, W) for Conv2d — in PyTorch's semantics (cross-correlation, zero padding,
//! dilation, stride), computed as im2col into a chunk of scratch followed by the executor's GEMM
//! out[C_out, voxels] = W[C_out, K] · columns[K, voxels], with the bias, a residual and a ReLU in its epilogue.
//! The output channels are the product's rows, so a layer with few of them (LMSCNet's 3-D head: 8, then 2) still
//! has long rows of voxels to vectorise over. A pointwise layer (one 1×1 term of stride 1, ResNet's most common)
//! needs no im2col: its input already is the product's operand.
//!
//! A layer may sum several *terms*, each a convolution of its own input with its own window, into one output:
//! a convolution over a channel concatenation [a ; b] is the sum of one over a and one over b with the matching
//! slices of the weight (so no concatenated copy is made), and a sum of branches (LMSCNet's ASPP) is one GEMM
//! over the stacked columns. Weights are packed once, at load, into the GEMM's operand [C_out, K] with
//! K = Σ C_in·taps in (term, input channel, tap) order — PyTorch's own order, BatchNorm folded in.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <initializer_list>

#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/workspace.hpp"

namespace voxformer {

//! The most terms one layer sums (LMSCNet's ASPP has three; a concatenation of three inputs needs three).
inline constexpr int max_conv_terms = 4;

//! A convolution window along the three spatial axes (D0, D1, D2) of a channels-first volume: kernel size,
//! dilation, zero padding and stride per axis; output extent = ⌊(input + 2·padding − dilation·(kernel − 1) − 1) /
//! stride⌋ + 1, PyTorch's.
struct conv_window {
  index_t kernel[3] = {1, 1, 1};
  index_t dilation[3] = {1, 1, 1};
  index_t padding[3] = {0, 0, 0};
  index_t stride[3] = {1, 1, 1};

  //! k×k over (D1, D2) = (H, W) of an image [C, 1, H, W], "same" size: PyTorch's Conv2d(k, padding=k/2).
  static constexpr conv_window planar(index_t k) { return {{1, k, k}, {1, 1, 1}, {0, k / 2, k / 2}}; }
  //! k×k over (H, W) of an image with stride s and padding p: Conv2d(k, stride=s, padding=p).
  static constexpr conv_window planar(index_t k, index_t s, index_t p) {
    return {{1, k, k}, {1, 1, 1}, {0, p, p}, {1, s, s}};
  }
  //! k×k×k with dilation d, "same" size: Conv3d(k, padding=d·(k−1)/2, dilation=d).
  static constexpr conv_window cubic(index_t k, index_t d = 1) {
    const index_t p = d * (k - 1) / 2;
    return {{k, k, k}, {d, d, d}, {p, p, p}};
  }

  VOXFORMER_HOST_DEVICE constexpr index_t taps() const { return kernel[0] * kernel[1] * kernel[2]; }
  //! A positive kernel, dilation and stride and a non-negative padding along an axis.
  constexpr bool valid(int axis) const {
    return kernel[axis] > 0 && dilation[axis] > 0 && stride[axis] > 0 && padding[axis] >= 0;
  }
  //! 1×1×1, stride 1, no padding: the input itself is the GEMM's operand.
  constexpr bool pointwise() const {
    for (int a = 0; a < 3; ++a)
      if (kernel[a] != 1 || stride[a] != 1 || padding[a] != 0) return false;
    return true;
  }
  //! The output extent along an axis for an input extent (0 when the window does not fit once).
  constexpr index_t output_extent(int axis, index_t input) const {
    const index_t span = input + 2 * padding[axis] - dilation[axis] * (kernel[axis] - 1);
    return span > 0 ? (span - 1) / stride[axis] + 1 : 0;
  }
};

//! A prepared convolution layer: the packed GEMM operand, the bias, and each term's window and input channels.
template <class T>
struct conv_weights {
  tensor_view<const T, 2> packed;  //!< [C_out, K], K = Σ C_in·taps, columns in (term, input channel, tap) order
  tensor_view<const T, 1> bias;    //!< [C_out]: the sum of every term's shift
  int terms = 0;
  conv_window windows[max_conv_terms] = {};
  index_t in_channels[max_conv_terms] = {};

  index_t out_channels() const { return packed.extent(0); }
};

//! One term as the checkpoint holds it — weight [C_out, C_in, k0, k1, k2] (PyTorch's Conv3d layout; a Conv2d
//! weight [C_out, C_in, kh, kw] seen as [C_out, C_in, 1, kh, kw]) — and an affine map per output channel applied
//! to its result: y = scale ⊙ conv(x) + shift (BatchNorm folded with `fold_batch_norm`; an empty scale means 1,
//! an empty shift 0, so a plain convolution passes its bias as the shift).
template <class T>
struct conv_term_source {
  tensor_view<const T, 5> weight;
  conv_window window;
  tensor_view<const T, 1> scale{};
  tensor_view<const T, 1> shift{};
};

//! A BatchNorm's parameters in eval mode (PyTorch's `weight`, `bias`, `running_mean`, `running_var`).
template <class T>
struct batch_norm_weights {
  tensor_view<const T, 1> weight, bias, running_mean, running_var;
};

inline constexpr double batch_norm_eps = 1e-5;

namespace kernels {

//! BatchNorm(conv(x) + b) = scale ⊙ conv(x) + shift: scale = γ/sqrt(var + eps), shift = β + (b − μ)·scale.
template <class T>
struct fold_batch_norm_channel {
  batch_norm_weights<T> norm;
  tensor_view<const T, 1> conv_bias;  // empty: the convolution has none
  tensor_view<T, 1> scale, shift;
  VOXFORMER_HOST_DEVICE void operator()(index_t c) const {
    using std::sqrt;
    const T s = norm.weight(c) / sqrt(norm.running_var(c) + static_cast<T>(batch_norm_eps));
    const T b = conv_bias.data() != nullptr ? conv_bias(c) : T(0);
    scale(c) = s;
    shift(c) = norm.bias(c) + (b - norm.running_mean(c)) * s;
  }
};

//! target(co, ci·taps + tap) = weight(co, ci, t0, t1, t2) · scale(co), tap = (t0·k1 + t1)·k2 + t2.
template <class T>
struct pack_conv_term {
  tensor_view<const T, 5> weight;
  tensor_view<const T, 1> scale;
  tensor_view<T, 2> target;  // [C_out, C_in·taps]
  VOXFORMER_HOST_DEVICE void operator()(index_t i) const {
    const index_t columns = target.extent(1), co = i / columns, column = i % columns;
    const index_t k1 = weight.extent(3), k2 = weight.extent(4), taps = weight.extent(2) * k1 * k2;
    const index_t ci = column / taps, tap = column % taps;
    const T w = weight(co, ci, tap / (k1 * k2), (tap / k2) % k1, tap % k2);
    target(co, column) = scale.data() != nullptr ? w * scale(co) : w;
  }
};

//! bias(co) = Σ over terms of shift_t(co).
template <class T>
struct sum_term_shifts {
  tensor_view<const T, 1> shifts[max_conv_terms];
  int terms;
  tensor_view<T, 1> bias;
  VOXFORMER_HOST_DEVICE void operator()(index_t co) const {
    T sum = T(0);
    for (int t = 0; t < terms; ++t)
      if (shifts[t].data() != nullptr) sum += shifts[t](co);
    bias(co) = sum;
  }
};

//! One row of im2col, (input channel, tap), for the output voxels [first, first + count): the input value under
//! that tap of each voxel's window, 0 where the window leaves the volume. A run of voxels along D2 reads one run
//! of the input with the stride's step — a copy between two zero fills at stride 1.
template <class T>
struct gather_conv_row {
  tensor_view<const T, 4> input;  // [C_in, I0, I1, I2]
  T* columns;                     // row r at columns + r·row_stride
  index_t row_stride;
  index_t first, count;  // output voxels
  index_t out1, out2;    // output extents D1, D2
  conv_window window;

  VOXFORMER_HOST_DEVICE void operator()(index_t r) const {
    const index_t taps = window.taps(), ci = r / taps, tap = r % taps;
    const index_t k1 = window.kernel[1], k2 = window.kernel[2];
    const index_t t0 = tap / (k1 * k2), t1 = (tap / k2) % k1, t2 = tap % k2;
    const index_t shift0 = t0 * window.dilation[0] - window.padding[0],
                  shift1 = t1 * window.dilation[1] - window.padding[1],
                  shift2 = t2 * window.dilation[2] - window.padding[2];
    const index_t s0 = window.stride[0], s1 = window.stride[1], s2 = window.stride[2];
    const index_t in2 = input.extent(3), step = input.stride(3) * s2;
    T* out = columns + r * row_stride;
    index_t o0 = first / (out1 * out2), o1 = (first / out2) % out1, o2 = first % out2;
    for (index_t left = count; left > 0;) {
      const index_t run = left < out2 - o2 ? left : out2 - o2;
      const index_t i0 = o0 * s0 + shift0, i1 = o1 * s1 + shift1;
      // Along D2 the run reads i2 = base + j·s2 for j in [0, run): inside the input for j in [low, high).
      const index_t base = o2 * s2 + shift2;
      index_t low = base < 0 ? (-base + s2 - 1) / s2 : 0;
      index_t high = base < in2 ? (in2 - 1 - base) / s2 + 1 : 0;
      low = low < run ? low : run;
      high = high < run ? high : run;
      if (i0 < 0 || i0 >= input.extent(1) || i1 < 0 || i1 >= input.extent(2) || low >= high) low = high = run;
      for (index_t j = 0; j < low; ++j) out[j] = T(0);
      if (low < high) {
        const T* source = &input(ci, i0, i1, base + low * s2);
        if (step == 1)
          for (index_t j = low; j < high; ++j) out[j] = source[j - low];
        else
          for (index_t j = low; j < high; ++j) out[j] = source[(j - low) * step];
      }
      for (index_t j = high; j < run; ++j) out[j] = T(0);
      out += run;
      left -= run;
      o2 = 0;  // the next run starts a new line of D2
      if (++o1 == out1) o1 = 0, ++o0;
    }
  }
};

//! out(c, ·) = act(residual(c, ·) + (product(c, ·) + bias(c))) over a block of columns of one output channel.
template <class T, bool Residual>
struct conv_epilogue {
  tensor_view<T, 2> out;  // [C_out, voxels of the chunk]: holds the product, receives the result
  tensor_view<const T, 1> bias;
  tensor_view<const T, 2> residual;  // [C_out, voxels of the chunk] when Residual
  bool relu;
  VOXFORMER_HOST_DEVICE void operator()(index_t c, index_t first, index_t end) const {
    const T b = bias(c);
    for (index_t j = first; j < end; ++j) {
      T v = out(c, j) + b;
      if constexpr (Residual) v = residual(c, j) + v;
      if (relu) v = v > T(0) ? v : T(0);
      out(c, j) = v;
    }
  }
};

}  // namespace kernels

namespace detail {

//! A channels-first volume [C, D0, D1, D2] whose voxels lie at one stride, seen as the matrix [C, D0·D1·D2].
template <class T>
tensor_view<T, 2> channel_rows(const char* op, const char* arg, const tensor_view<T, 4>& v) {
  // Axes of extent 1 may carry any stride; the others must nest.
  index_t stride = 0, expected = 0;
  bool nested = true;
  for (int a = 3; a >= 1; --a) {
    if (v.extent(a) == 1) continue;
    if (stride == 0) stride = expected = v.stride(a);
    nested = nested && v.stride(a) == expected;
    expected = v.stride(a) * v.extent(a);
  }
  require(nested, op, ": argument '", arg,
          "' [C, D0, D1, D2] must hold each channel's voxels at one stride (a "
          "C-order volume, or a channel slice of one), got strides (",
          v.stride(0), ", ", v.stride(1), ", ", v.stride(2), ", ", v.stride(3), ")");
  return tensor_view<T, 2>(v.data(), {v.extent(0), v.extent(1) * v.extent(2) * v.extent(3)},
                           {v.stride(0), stride == 0 ? 1 : stride}, v.space());
}

}  // namespace detail

//! Packs `terms` into a layer: the operand [C_out, Σ C_in·taps] and the bias carved from `persistent` (and filled,
//! unless `persistent` only sizes). Every term must have the same C_out.
template <class Executor, class T>
conv_weights<T> prepare_conv(const Executor& executor, std::initializer_list<conv_term_source<T>> terms,
                             workspace& persistent) {
  constexpr const char* op = "voxformer::prepare_conv";
  detail::require(terms.size() >= 1 && terms.size() <= max_conv_terms, op, ": ", terms.size(), " terms given, 1 to ",
                  max_conv_terms, " supported");
  const index_t out = terms.begin()->weight.extent(0);
  conv_weights<T> layer;
  index_t columns = 0;
  for (const auto& term : terms) {
    const auto& k = term.window.kernel;
    for (int a = 0; a < 3; ++a)
      detail::require(term.window.valid(a), op, ": a window along axis ", a,
                      " needs a positive kernel, dilation and stride and a non-negative padding");
    expect_shape(op, "weight", "[C_out, C_in, k0, k1, k2]", term.weight, {out, any_extent, k[0], k[1], k[2]});
    if (term.scale.data() != nullptr) expect_shape(op, "scale", "[C_out]", term.scale, {out});
    if (term.shift.data() != nullptr) expect_shape(op, "shift", "[C_out]", term.shift, {out});
    expect_accessible(op, "weight", executor, term.weight);
    layer.windows[layer.terms] = term.window;
    layer.in_channels[layer.terms++] = term.weight.extent(1);
    columns += term.weight.extent(1) * term.window.taps();
  }
  const auto packed = persistent.take_view<T, 2>({out, columns});
  const auto bias = persistent.take_view<T, 1>({out});
  layer.packed = packed;
  layer.bias = bias;
  if (persistent.sizing()) return layer;
  kernels::sum_term_shifts<T> sum{{}, layer.terms, bias};
  index_t first = 0;
  int t = 0;
  for (const auto& term : terms) {
    const index_t block = term.weight.extent(1) * term.window.taps();
    parallel_for(executor, out * block,
                 kernels::pack_conv_term<T>{term.weight, term.scale, column_slice(packed, first, block)});
    sum.shifts[t++] = term.shift;
    first += block;
  }
  parallel_for(executor, out, sum);
  return layer;
}

//! scale and shift [C] (carved from `persistent`) of BatchNorm(conv(x) + conv_bias), for a `conv_term_source`.
template <class Executor, class T>
std::array<tensor_view<const T, 1>, 2> fold_batch_norm(const Executor& executor, const batch_norm_weights<T>& norm,
                                                       const tensor_view<const T, 1>& conv_bias,
                                                       workspace& persistent) {
  const index_t channels = norm.weight.extent(0);
  const auto scale = persistent.take_view<T, 1>({channels});
  const auto shift = persistent.take_view<T, 1>({channels});
  if (!persistent.sizing())
    parallel_for(executor, channels, kernels::fold_batch_norm_channel<T>{norm, conv_bias, scale, shift});
  return {scale, shift};
}

//! One call of a convolution layer: `inputs[t]` [C_in,t, I0, I1, I2] for each term, `out` [C_out, D0, D1, D2],
//! optionally `residual` (shaped as out) added before the ReLU: out = act(residual + Σ_t conv_t(inputs[t]) + bias).
//! Output voxels are processed `chunk_voxels` at a time.
template <class T>
struct conv_arguments {
  conv_weights<T> weights;
  std::array<tensor_view<const T, 4>, max_conv_terms> inputs{};
  tensor_view<T, 4> out;
  tensor_view<const T, 4> residual{};
  bool relu = false;
  index_t chunk_voxels = 1024;
};

namespace detail {

//! The row stride of the im2col columns of `count` voxels: a whole number of cache lines plus one, so that the
//! GEMM's walk down a column of rows does not map every row to the same cache set (a power-of-two count would).
template <class T>
constexpr index_t conv_column_stride(index_t count) {
  constexpr index_t line = static_cast<index_t>(workspace::alignment / sizeof(T));
  return (count + line - 1) / line * line + line;
}

//! One pointwise term (1×1, stride 1, no padding): its input's channel rows are the GEMM's operand as they are.
template <class T>
bool pointwise_layer(const conv_weights<T>& weights) {
  return weights.terms == 1 && weights.windows[0].pointwise();
}

}  // namespace detail

//! Scratch of a convolution: the im2col columns of one chunk (none for a pointwise layer).
template <class T>
std::size_t conv_workspace_bytes(const conv_weights<T>& weights, index_t chunk_voxels) {
  if (detail::pointwise_layer(weights)) return 0;
  workspace sizing;
  sizing.take<T>(weights.packed.extent(1) * detail::conv_column_stride<T>(chunk_voxels));
  return sizing.used();
}

template <class Executor, class T>
void validate(const Executor& executor, const conv_arguments<T>& args) {
  constexpr const char* op = "voxformer::convolution";
  const auto& w = args.weights;
  detail::require(w.terms >= 1 && w.terms <= max_conv_terms, op, ": the layer has ", w.terms, " terms");
  detail::require(args.chunk_voxels > 0, op, ": chunk_voxels must be positive, got ", args.chunk_voxels);
  expect_shape(op, "out", "[C_out, D0, D1, D2]", args.out, {w.out_channels(), any_extent, any_extent, any_extent});
  const auto rows = detail::channel_rows(op, "out", args.out);
  // The GEMM writes the output as one matrix [C_out, voxels]: it needs one of the two at unit stride.
  detail::require(rows.stride(1) == 1 || rows.stride(0) == 1 || rows.extent(0) == 1 || rows.extent(1) == 1, op,
                  ": argument 'out' [C_out, D0, D1, D2] needs its voxels or its channels at unit stride, got strides (",
                  args.out.stride(0), ", ", args.out.stride(1), ", ", args.out.stride(2), ", ", args.out.stride(3),
                  ")");
  expect_accessible(op, "out", executor, args.out);
  index_t columns = 0;
  for (int t = 0; t < w.terms; ++t) {
    const auto& window = w.windows[t];
    for (int a = 0; a < 3; ++a)
      detail::require(window.valid(a), op, ": term ", t, "'s window along axis ", a,
                      " needs a positive kernel, dilation and stride and a non-negative padding");
    columns += w.in_channels[t] * window.taps();
  }
  expect_shape(op, "weights.packed", "[C_out, sum of C_in * taps]", w.packed, {w.out_channels(), columns});
  expect_shape(op, "weights.bias", "[C_out]", w.bias, {w.out_channels()});
  for (int t = 0; t < w.terms; ++t) {
    const auto& in = args.inputs[static_cast<std::size_t>(t)];
    expect_shape(op, "inputs", "[C_in, I0, I1, I2] of a term", in, {w.in_channels[t], any_extent, any_extent, any_extent});
    std::array<index_t, 4> expected{w.out_channels(), 0, 0, 0};
    for (int a = 0; a < 3; ++a)
      expected[static_cast<std::size_t>(a) + 1] = w.windows[t].output_extent(a, in.extent(a + 1));
    if (expected != args.out.extents())
      detail::fail(op, ": argument 'out' [C_out, D0, D1, D2] expected shape ", detail::format_shape(expected),
                   " (term ", t, "'s window over its input ", detail::format_shape(in.extents()), "), got ",
                   detail::format_shape(args.out.extents()));
    expect_accessible(op, "inputs", executor, in);
    expect_disjoint(op, "out", args.out, "inputs", in);
  }
  if (detail::pointwise_layer(w)) {  // its input is the GEMM's operand as it is: one axis at unit stride
    const auto in_rows = detail::channel_rows(op, "inputs", args.inputs[0]);
    detail::require(in_rows.stride(1) == 1 || in_rows.stride(0) == 1 || in_rows.extent(0) == 1 || in_rows.extent(1) == 1, op,
                    ": argument 'inputs' of a pointwise layer needs its voxels or its channels at unit stride");
  }
  if (args.residual.data() != nullptr) {
    expect_shape(op, "residual", "[C_out, D0, D1, D2]", args.residual, args.out.extents());
    (void)detail::channel_rows(op, "residual", args.residual);
    expect_accessible(op, "residual", executor, args.residual);
    expect_disjoint(op, "out", args.out, "residual", args.residual);
  }
}

template <class Executor, class T>
void run(const Executor& executor, const conv_arguments<T>& args, workspace scratch) {
  constexpr const char* op = "voxformer::convolution";
  const auto& w = args.weights;
  const auto out = detail::channel_rows(op, "out", args.out);
  const bool has_residual = args.residual.data() != nullptr;
  const auto residual = has_residual ? detail::channel_rows(op, "residual", args.residual) : tensor_view<const T, 2>{};
  const index_t voxels = out.extent(1), k = w.packed.extent(1), chunk = std::min(args.chunk_voxels, voxels);
  auto product = [&](const tensor_view<const T, 2>& b, index_t first, index_t count) {
    const auto c = column_slice(out, first, count);
    if (has_residual)
      gemm(executor, w.packed, b, c, false,
           kernels::conv_epilogue<T, true>{c, w.bias, column_slice(residual, first, count), args.relu});
    else gemm(executor, w.packed, b, c, false, kernels::conv_epilogue<T, false>{c, w.bias, {}, args.relu});
  };
  if (detail::pointwise_layer(w)) {  // the input's channel rows are the operand: one product, no gather
    product(detail::channel_rows(op, "inputs", args.inputs[0]), 0, voxels);
    return;
  }
  const index_t stride = detail::conv_column_stride<T>(chunk);
  T* const columns = scratch.take<T>(k * stride);
  for (index_t first = 0; first < voxels; first += chunk) {
    const index_t count = std::min(chunk, voxels - first);
    index_t row = 0;
    for (int t = 0; t < w.terms; ++t) {
      const index_t rows = w.in_channels[t] * w.windows[t].taps();
      parallel_for(executor, rows,
                   kernels::gather_conv_row<T>{args.inputs[static_cast<std::size_t>(t)], columns + row * stride, stride,
                                               first, count, args.out.extent(2), args.out.extent(3), w.windows[t]},
                   1);
      row += rows;
    }
    product(tensor_view<const T, 2>(columns, {k, count}, {stride, 1}, scratch.space()), first, count);
  }
}

}  // namespace voxformer
