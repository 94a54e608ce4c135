// A user's CUDA translation unit: the whole library (under nvcc the umbrella header brings the CUDA backend
// too), an op launched on the GPU, and a host part, which is what CTest runs: it calls no CUDA function, so it
// runs where there is no GPU (or driver). `cuda_consumer --gpu` also runs the GPU part.
#include <cstdio>
#include <string_view>
#include <vector>
#include <voxformer/backend/cuda/cuda_executor.hpp>
#include <voxformer/voxformer.hpp>

namespace {

// A user's kernel, launched by the library's loop: a functor, so it needs no --extended-lambda.
struct scale {
  float* values;
  float factor;
  VOXFORMER_HOST_DEVICE void operator()(voxformer::index_t i) const { values[i] *= factor; }
};

// The mask-token scatter on device memory, then the user's kernel on the result.
bool run_on_gpu() {
  using namespace voxformer;
  const std::vector<float> seed = {1, 2, 3, 4, 5, 6}, token = {-1, -2, -3};
  const std::vector<std::int32_t> rows = {1, 3};
  float *d_seed = nullptr, *d_token = nullptr, *d_volume = nullptr;
  std::int32_t* d_rows = nullptr;
  VOXFORMER_CUDA_CHECK(cudaMalloc(&d_seed, seed.size() * sizeof(float)));
  VOXFORMER_CUDA_CHECK(cudaMalloc(&d_token, token.size() * sizeof(float)));
  VOXFORMER_CUDA_CHECK(cudaMalloc(&d_volume, 12 * sizeof(float)));
  VOXFORMER_CUDA_CHECK(cudaMalloc(&d_rows, rows.size() * sizeof(std::int32_t)));
  VOXFORMER_CUDA_CHECK(cudaMemcpy(d_seed, seed.data(), seed.size() * sizeof(float), cudaMemcpyHostToDevice));
  VOXFORMER_CUDA_CHECK(cudaMemcpy(d_token, token.data(), token.size() * sizeof(float), cudaMemcpyHostToDevice));
  VOXFORMER_CUDA_CHECK(cudaMemcpy(d_rows, rows.data(), rows.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice));
  const cuda_executor gpu{nullptr, 128};  // the current device's default stream, where cudaMalloc allocated
  const auto on_gpu = memory_space::on_device(gpu.device);
  scatter_with_mask_token(gpu, tensor_view<const float, 2>(d_seed, {2, 3}, on_gpu),
                          tensor_view<const std::int32_t, 1>(d_rows, {2}, on_gpu),
                          tensor_view<const float, 1>(d_token, {3}, on_gpu), tensor_view<float, 2>(d_volume, {4, 3}, on_gpu));
  parallel_for(gpu, 12, scale{d_volume, 2.f});
  std::vector<float> volume(12);
  VOXFORMER_CUDA_CHECK(cudaMemcpy(volume.data(), d_volume, 12 * sizeof(float), cudaMemcpyDeviceToHost));
  for (void* p : {static_cast<void*>(d_seed), static_cast<void*>(d_token), static_cast<void*>(d_volume),
                  static_cast<void*>(d_rows)})
    VOXFORMER_CUDA_CHECK(cudaFree(p));
  const std::vector<float> expected = {-2, -4, -6, 2, 4, 6, -2, -4, -6, 8, 10, 12};
  return volume == expected;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const voxformer::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace voxformer;
  // Host code in a .cu file: the CPU backend, as in any C++ file.
  std::vector<std::uint8_t> mask(4 * 4 * 2, 0);
  mask[3] = mask[17] = 1;
  std::vector<std::int32_t> unmasked(32), masked(32);
  const auto counts = proposal_indices(cpu_executor{2}, make_view<3>(mask.data(), {4, 4, 2}),
                                       make_view<1>(unmasked.data(), {32}), make_view<1>(masked.data(), {32}));
  bool ok = counts.unmasked == 2 && unmasked[1] == 17;
  // The CUDA backend's host-side checks, made before any launch (and without a GPU: the executor then says device 0).
  ok = ok && error_of([] { (void)cuda_executor{nullptr, 0}; }) ==
                 "voxformer::cuda_executor: argument 'threads_per_block' must be in [1, 1024], got 0";
  std::vector<float> seed(6), token(3), volume(12);
  std::vector<std::int32_t> rows = {1, 3};
  ok = ok && error_of([&] {
              scatter_with_mask_token(cuda_executor{}, make_view<2>(seed.data(), {2, 3}), make_view<1>(rows.data(), {2}),
                                      make_view<1>(token.data(), {3}), make_view<2>(volume.data(), {4, 3}));
            }).find("voxformer::scatter_with_mask_token") == 0;
  if (ok && argc > 1 && std::string_view(argv[1]) == "--gpu") ok = run_on_gpu();
  std::printf("cuda consumer: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
