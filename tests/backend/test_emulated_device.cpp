// The device contract, checked on the CPU: ops whose counts stay where the executor computes them run under the
// emulated device (tests/support/emulated_device.hpp), where any host read of device memory outside a kernel faults,
// and give the CPU executor's outputs bit for bit. The first test shows that such a read does fault, so that the
// others could fail.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "support/emulated_device.hpp"
#include "support/small_model_config.hpp"
#include "voxformer/model/parameter_store.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/voxel/proposal.hpp"

namespace {

using test::emulated_device_buffer;
using test::emulated_device_executor;
using test::emulated_device_tensor;
using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::memory_space;
using voxformer::tensor_view;

//! A workspace of `bytes` of emulated device memory.
struct device_scratch {
  emulated_device_buffer memory;
  explicit device_scratch(std::size_t bytes) : memory(bytes) {}
  voxformer::workspace get() const { return {memory.data(), memory.size(), memory.space()}; }
};

TEST(EmulatedDeviceDeathTest, AHostReadOfDeviceMemoryFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const emulated_device_tensor<std::int32_t, 1> values({4}, {1, 2, 3, 4});
  EXPECT_EQ(test::download(values.view), (std::vector<std::int32_t>{1, 2, 3, 4}));  // inside a kernel scope: fine
  EXPECT_DEATH((void)*static_cast<volatile std::int32_t*>(values.view.data()), "");
}

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned modulus, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = static_cast<std::uint8_t>(rng() % modulus == 0);
  return v;
}

// Both layouts of the camera batches, with no count read on the host: the CPU executor's outputs, bit for bit.
TEST(EmulatedDevice, CameraBatchesAsOnTheCpu) {
  const index_t cameras = 3, queries = 20000, anchors = 2;
  const auto visible = random_bytes(static_cast<std::size_t>(cameras * queries * anchors), 4, 1);
  const auto host_visible = voxformer::make_view<3>(static_cast<const std::uint8_t*>(visible.data()), {cameras, queries, anchors});
  const auto sizes = voxformer::camera_batch_sizes_of(cpu_executor{2}, host_visible);
  std::vector<std::int32_t> offsets(cameras + 1), indices(static_cast<std::size_t>(sizes.total)),
      row_of(static_cast<std::size_t>(cameras * queries)), padded(static_cast<std::size_t>(cameras * sizes.max_len)),
      lengths(cameras), padded_row_of(row_of.size());
  voxformer::build_camera_batches(cpu_executor{2}, host_visible, voxformer::make_view<1>(offsets.data(), {cameras + 1}),
                                  voxformer::make_view<1>(indices.data(), {sizes.total}),
                                  voxformer::make_view<2>(row_of.data(), {cameras, queries}));
  voxformer::build_padded_camera_batches(cpu_executor{2}, host_visible,
                                         voxformer::make_view<2>(padded.data(), {cameras, sizes.max_len}),
                                         voxformer::make_view<1>(lengths.data(), {cameras}),
                                         voxformer::make_view<2>(padded_row_of.data(), {cameras, queries}));

  const emulated_device_executor device;
  const emulated_device_tensor<std::uint8_t, 3> d_visible({cameras, queries, anchors}, visible);
  const emulated_device_tensor<std::int32_t, 1> d_offsets({cameras + 1}), d_indices({sizes.total}), d_lengths({cameras});
  const emulated_device_tensor<std::int32_t, 2> d_row_of({cameras, queries}), d_padded({cameras, sizes.max_len}),
      d_padded_row_of({cameras, queries});
  const voxformer::camera_batch_arguments<std::int32_t> csr{d_visible.view, d_offsets.view, d_indices.view, d_row_of.view};
  const voxformer::padded_camera_batch_arguments<std::int32_t> pad{d_visible.view, d_padded.view, d_lengths.view,
                                                                   d_padded_row_of.view};
  voxformer::validate(device, csr);
  voxformer::validate(device, pad);
  const device_scratch scratch(std::max(workspace_bytes(device, csr), workspace_bytes(device, pad)));
  voxformer::run(device, csr, scratch.get());
  voxformer::run(device, pad, scratch.get());
  EXPECT_EQ(test::download(d_offsets.view), offsets);
  EXPECT_EQ(test::download(d_indices.view), indices);
  EXPECT_EQ(test::download(d_row_of.view), row_of);
  EXPECT_EQ(test::download(d_padded.view), padded);
  EXPECT_EQ(test::download(d_lengths.view), lengths);
  EXPECT_EQ(test::download(d_padded_row_of.view), padded_row_of);
}

// Too little room: on a device nothing is written and nothing is raised (the count is not read back); the host's
// one-call form raises the error.
TEST(EmulatedDevice, CameraBatchesOverCapacityWriteNothing) {
  const index_t cameras = 2, queries = 5000;
  const auto visible = random_bytes(static_cast<std::size_t>(cameras * queries), 3, 2);
  const emulated_device_executor device;
  const emulated_device_tensor<std::uint8_t, 3> d_visible({cameras, queries, 1}, visible);
  const emulated_device_tensor<std::int32_t, 1> d_offsets({cameras + 1}), d_indices({10});
  const emulated_device_tensor<std::int32_t, 2> d_row_of({cameras, queries});
  const voxformer::camera_batch_arguments<std::int32_t> csr{d_visible.view, d_offsets.view, d_indices.view, d_row_of.view};
  const device_scratch scratch(workspace_bytes(device, csr));
  voxformer::run(device, csr, scratch.get());
  EXPECT_EQ(test::download(d_indices.view), std::vector<std::int32_t>(10, -1));
  EXPECT_EQ(test::download(d_offsets.view), std::vector<std::int32_t>(cameras + 1, -1));
  EXPECT_EQ(test::download(d_row_of.view), std::vector<std::int32_t>(static_cast<std::size_t>(cameras * queries), -1));
}

// The query lists of a proposal, counts included, written on the device: the CPU's lists and counts.
TEST(EmulatedDevice, ProposalIndicesAsOnTheCpu) {
  const index_t voxels = 64 * 64 * 8;
  const auto mask = random_bytes(static_cast<std::size_t>(voxels), 7, 3);
  std::vector<std::int32_t> unmasked(static_cast<std::size_t>(voxels), -1), masked(unmasked.size(), -1);
  const auto counts = voxformer::proposal_indices<1>(cpu_executor{2}, voxformer::make_view<1>(mask.data(), {voxels}),
                                                    voxformer::make_view<1>(unmasked.data(), {voxels}),
                                                    voxformer::make_view<1>(masked.data(), {voxels}));
  const emulated_device_executor device;
  const emulated_device_tensor<std::uint8_t, 1> d_mask({voxels}, mask);
  const emulated_device_tensor<std::int32_t, 1> d_unmasked({voxels}), d_masked({voxels});
  const emulated_device_tensor<index_t, 1> d_counts({2});
  const voxformer::proposal_arguments<std::uint8_t, std::int32_t> args{d_mask.view, d_unmasked.view, d_masked.view,
                                                                      d_counts.view};
  voxformer::validate(device, args);
  const device_scratch scratch(workspace_bytes(device, args));
  voxformer::run(device, args, scratch.get());
  EXPECT_EQ(test::download(d_counts.view), (std::vector<index_t>{counts.unmasked, counts.masked}));
  EXPECT_EQ(test::download(d_unmasked.view), unmasked);
  EXPECT_EQ(test::download(d_masked.view), masked);
}

//! Every tensor of `uploaded` holds the host store's values, in one buffer of device memory, and the parameter
//! structs the layers read point into it.
template <class Store, class Uploaded>
void expect_same_tensors(const Store& host, const Uploaded& uploaded, std::string_view prefix) {
  EXPECT_EQ(uploaded.space(), memory_space::device);
  std::set<const float*> starts;
  std::size_t bytes = 0;
  for (const auto& t : host.safetensors_tensors()) {
    const auto device = uploaded.tensor(std::string_view(t.name).substr(prefix.size()));
    EXPECT_EQ(device.space(), memory_space::device);
    std::vector<float> expected(t.bytes.size() / sizeof(float));
    std::memcpy(expected.data(), t.bytes.data(), t.bytes.size());
    EXPECT_EQ(test::download(device), expected) << t.name;
    starts.insert(device.data());
    bytes += t.bytes.size();
  }
  EXPECT_EQ(starts.size(), host.safetensors_tensors().size());  // distinct places
  EXPECT_GE(uploaded.bytes(), bytes);
}

// Weights on the device: one upload of every tensor inference reads, the structs bound to device memory.
TEST(EmulatedDevice, ParameterStoresUploadOnceIntoDeviceMemory) {
  const emulated_device_executor device;
  const auto host = voxformer::parameter_store<float>::random(test::small_model_config(), 7);
  const auto uploaded = host.upload(device);
  expect_same_tensors(host, uploaded, "pts_bbox_head.");
  const auto& p = uploaded.parameters();
  EXPECT_EQ(p.bev_embed.space(), memory_space::device);
  EXPECT_EQ(p.bev_embed.data(), uploaded.tensor("bev_embed.weight").data());
  EXPECT_EQ(p.cross.at(0).ffn.fc1.weight.space(), memory_space::device);
  EXPECT_EQ(test::download(p.mask_embed), test::download(uploaded.tensor("mask_embed.weight")));

  voxformer::qpn_config stage1;
  stage1.grid = {16, 16, 8};
  const auto qpn_host = voxformer::qpn_parameter_store<float>::random(stage1, 3);
  expect_same_tensors(qpn_host, qpn_host.upload(device), "");
}

}  // namespace
