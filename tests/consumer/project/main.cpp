// Uses the library through its umbrella header: a proposal mask → query lists → mask-token volume.
#include <cstdio>
#include <vector>
#include <voxformer/voxformer.hpp>

int main() {
  using namespace voxformer;
  std::vector<std::uint8_t> mask(4 * 4 * 2, 0);
  mask[3] = mask[17] = 1;
  std::vector<std::int32_t> unmasked(32), masked(32);
  const auto counts = proposal_indices(cpu_executor{2}, make_view<3>(mask.data(), {4, 4, 2}),
                                       make_view<1>(unmasked.data(), {32}), make_view<1>(masked.data(), {32}));
  Eigen::MatrixXf seed = Eigen::MatrixXf::Ones(2, 3);  // column-major: read through its strides
  Eigen::VectorXf token = Eigen::VectorXf::Zero(3);
  std::vector<float> volume(32 * 3);
  scatter_with_mask_token(cpu_executor{1}, seed, make_view<1>(unmasked.data(), {2}), token,
                          make_view<2>(volume.data(), {32, 3}));
  const bool ok = counts.unmasked == 2 && unmasked[1] == 17 && volume[3 * 17] == 1.f && volume[0] == 0.f;
  std::printf("consumer: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
