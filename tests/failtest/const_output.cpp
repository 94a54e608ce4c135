// A read-only tensor cannot be passed where the op writes.
#include <vector>
#include <voxformer/voxformer.hpp>

int main() {
  std::vector<std::uint8_t> grid(8), storage(1);
#ifdef VOXFORMER_FAILTEST
  const std::uint8_t* bytes = storage.data();
#else
  std::uint8_t* bytes = storage.data();
#endif
  voxformer::pack_bits(voxformer::cpu_executor{}, voxformer::make_view<3>(grid.data(), {2, 2, 2}),
                       voxformer::make_view<1>(bytes, {1}));
}
