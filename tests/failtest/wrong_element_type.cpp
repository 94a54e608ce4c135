// A statically typed tensor of the wrong element type is rejected at compile time.
#include <vector>
#include <voxformer/voxformer.hpp>

int main() {
#ifdef VOXFORMER_FAILTEST
  std::vector<double> token(3);  // the op is asked for float
#else
  std::vector<float> token(3);
#endif
  std::vector<float> seed, volume(6);
  std::vector<std::int32_t> none;
  voxformer::scatter_with_mask_token<float>(voxformer::cpu_executor{}, voxformer::make_view<2>(seed.data(), {0, 3}),
                                            voxformer::make_view<1>(none.data(), {0}),
                                            voxformer::make_view<1>(token.data(), {3}),
                                            voxformer::make_view<2>(volume.data(), {2, 3}));
}
