// tensor_view and the tensor_traits customization point: strides, adapters, and the boundary checks.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>
#include <string>
#include <utility>
#include <vector>

#include "support/error_of.hpp"
#include "support/tensor_families.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/io/npy.hpp"

namespace {

using voxformer::as_view;
using voxformer::index_t;
using voxformer::tensor_view;

TEST(TensorView, RowMajorIndexingAndContiguity) {
  std::vector<int> data(24);
  for (int i = 0; i < 24; ++i) data[i] = i;
  const auto v = voxformer::make_view<3>(data.data(), {2, 3, 4});
  EXPECT_EQ(v.stride(0), 12);
  EXPECT_EQ(v.stride(2), 1);
  EXPECT_EQ(v(1, 2, 3), 23);
  EXPECT_EQ(v.size(), 24);
  EXPECT_TRUE(v.is_contiguous());
  // A transposed view of the same memory: not contiguous, at_flat walks it in its own C order.
  const tensor_view<int, 2> t(data.data(), {4, 6}, {1, 4});
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t(3, 5), 23);
  EXPECT_EQ(t.at_flat(1), 4);  // element (0, 1)
  EXPECT_EQ(t.at_flat(6), 1);  // element (1, 0)
  const tensor_view<const int, 2> c = t;  // mutable → const converts implicitly
  EXPECT_EQ(c(2, 1), 6);
}

TEST(TensorTraits, EigenDenseObjectsKeepTheirStrides) {
  Eigen::MatrixXf col_major(3, 4);
  auto v = as_view<const float, 2>(col_major, "test", "m");
  EXPECT_EQ(v.stride(0), 1);
  EXPECT_EQ(v.stride(1), 3);
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major(3, 4);
  auto r = as_view<float, 2>(row_major, "test", "m");
  EXPECT_EQ(r.stride(0), 4);
  EXPECT_EQ(r.stride(1), 1);
  // A block is read in place, through the parent's strides.
  col_major.setZero();
  col_major(2, 3) = 7.f;
  auto block = col_major.block(1, 1, 2, 3);
  auto b = as_view<const float, 2>(block, "test", "block");
  EXPECT_EQ(b.extent(0), 2);
  EXPECT_EQ(b(1, 2), 7.f);
  // Compile-time vectors are rank 1.
  Eigen::VectorXf vec = Eigen::VectorXf::LinSpaced(5, 0.f, 4.f);
  auto vv = as_view<const float, 1>(vec, "test", "vec");
  EXPECT_EQ(vv.extent(0), 5);
  EXPECT_EQ(vv(4), 4.f);
}

TEST(TensorTraits, EigenTensorsOfBothLayouts) {
  Eigen::Tensor<float, 3> col(2, 3, 4);  // Eigen's default: column-major
  col.setZero();
  col(1, 2, 3) = 5.f;
  auto c = as_view<const float, 3>(col, "test", "col");
  EXPECT_EQ(c.stride(0), 1);
  EXPECT_EQ(c.stride(2), 6);
  EXPECT_EQ(c(1, 2, 3), 5.f);
  Eigen::Tensor<float, 3, Eigen::RowMajor> row(2, 3, 4);
  row.setZero();
  row(1, 2, 3) = 6.f;
  auto r = as_view<float, 3>(row, "test", "row");
  EXPECT_TRUE(r.is_contiguous());
  EXPECT_EQ(r(1, 2, 3), 6.f);
}

TEST(TensorTraits, DlpackStridesOffsetAndChecks) {
  std::vector<float> data(12);
  for (int i = 0; i < 12; ++i) data[i] = static_cast<float>(i);
  std::int64_t shape[2] = {3, 2}, strides[2] = {1, 3};  // a transposed 2×3 matrix
  DLTensor t{};
  t.data = data.data();
  t.device = {kDLCPU, 0};
  t.ndim = 2;
  t.dtype = {kDLFloat, 32, 1};
  t.shape = shape;
  t.strides = strides;
  t.byte_offset = 2 * sizeof(float);
  auto v = as_view<const float, 2>(t, "test", "t");
  EXPECT_EQ(v(0, 0), 2.f);
  EXPECT_EQ(v(2, 1), 2.f + 2 + 3);
  try {
    (void)as_view<const float, 3>(t, "voxformer::op", "value");
    FAIL();
  } catch (const voxformer::error& e) {
    EXPECT_STREQ(e.what(), "voxformer::op: argument 'value' has rank 2, expected rank 3");
  }
  t.device = {kDLOpenCL, 0};
  EXPECT_THROW((void)(as_view<const float, 2>(t, "test", "t")), voxformer::error);
  t.device = {kDLCUDA, 0};
  EXPECT_EQ((as_view<const float, 2>(t, "test", "t").space()), voxformer::memory_space::device);
  t.device = {kDLCUDAManaged, 1};
  EXPECT_EQ((as_view<const float, 2>(t, "test", "t").space()), voxformer::memory_space::managed);
}

// A CUDA tensor keeps its device: memory on GPU 1 is neither GPU 0's nor reachable by an executor on GPU 0.
TEST(TensorTraits, DlpackKeepsTheCudaDevice) {
  float data[2] = {};
  std::int64_t shape[1] = {2};
  DLTensor t{};
  t.data = data;
  t.ndim = 1;
  t.dtype = {kDLFloat, 32, 1};
  t.shape = shape;
  t.device = {kDLCUDA, 1};
  const auto space = as_view<const float, 1>(t, "test", "t").space();
  EXPECT_EQ(space, voxformer::memory_space::on_device(1));
  EXPECT_NE(space, voxformer::memory_space::device);
  EXPECT_EQ(voxformer::to_string(space), "device 1");
  EXPECT_TRUE(voxformer::device_accessible(space, 1));
  EXPECT_FALSE(voxformer::device_accessible(space, 0));
  EXPECT_FALSE(voxformer::host_accessible(space));
  t.device = {kDLCUDA, -1};
  EXPECT_EQ(test::error_of([&] { (void)as_view<const float, 1>(t, "test", "t"); }),
            "voxformer DLPack adapter: CUDA device_id -1 is not a device ordinal");
}

// fp16 and bf16 share 16 bits and nothing else: each is named, and neither passes for the other or for float.
TEST(TensorTraits, DlpackTellsFloat16FromBfloat16) {
  std::vector<std::uint16_t> data(4);
  std::int64_t shape[1] = {4};
  DLTensor t{};
  t.data = data.data();
  t.device = {kDLCPU, 0};
  t.ndim = 1;
  t.shape = shape;
  for (const auto& [code, name] : {std::pair{kDLFloat, "float16"}, std::pair{kDLBfloat, "bfloat16"}}) {
    t.dtype = {static_cast<std::uint8_t>(code), 16, 1};
    EXPECT_EQ(voxformer::to_string(voxformer::detail::describe_dlpack(t).type), name);
    EXPECT_EQ(test::error_of([&] { (void)as_view<const float, 1>(t, "voxformer::op", "x"); }),
              std::string("voxformer::op: argument 'x' has element type ") + name + ", expected float32");
  }
  EXPECT_NE((voxformer::dtype{voxformer::scalar_kind::floating, 16}), (voxformer::dtype{voxformer::scalar_kind::brain_floating, 16}));
}

TEST(TensorTraits, ReadOnlyDynamicTensorIsNotAnOutput) {
  voxformer::io::npy_array a{voxformer::dtype_of<float>(), {2}, std::vector<std::byte>(8)};
  const auto& read_only = a;
  EXPECT_NO_THROW((void)(as_view<float, 1>(a, "test", "a")));
  EXPECT_NO_THROW((void)(as_view<const float, 1>(read_only, "test", "a")));
  EXPECT_THROW((void)(as_view<float, 1>(read_only, "test", "a")), voxformer::error);
}

TEST(TensorTraits, UserTypeAdaptedInFiveLines) {
  std::vector<double> data(6, 1.5);
  test::plain_tensor<double, 2> t{data.data(), {2, 3}};
  auto v = as_view<double, 2>(t, "test", "t");
  EXPECT_EQ(v.extent(1), 3);
  v(1, 2) = 4.0;
  EXPECT_EQ(data[5], 4.0);
  static_assert(voxformer::tensor_like<test::plain_tensor<double, 2>>);
  static_assert(!voxformer::tensor_like<std::vector<double>>);
}

TEST(ShapeCheck, MessageNamesOpArgumentLayoutAndShapes) {
  std::vector<float> data(6);
  const auto v = voxformer::make_view<2>(data.data(), {2, 3});
  try {
    voxformer::expect_shape("voxformer::op", "seed", "[n, C]", v, {2, 4});
    FAIL();
  } catch (const voxformer::error& e) {
    EXPECT_STREQ(e.what(), "voxformer::op: argument 'seed' [n, C] expected shape [2, 4], got [2, 3]");
  }
  EXPECT_NO_THROW(voxformer::expect_shape("op", "seed", "[n, C]", v, {voxformer::any_extent, 3}));
}

}  // namespace
