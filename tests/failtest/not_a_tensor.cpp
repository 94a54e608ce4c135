// A type without tensor_traits is rejected with one readable message.
#include <vector>
#include <voxformer/voxformer.hpp>

int main() {
  std::vector<std::uint8_t> bytes(1);
#ifdef VOXFORMER_FAILTEST
  std::vector<std::uint8_t> grid(8);  // a std::vector is not a tensor: it has no shape
#else
  std::vector<std::uint8_t> storage(8);
  auto grid = voxformer::make_view<3>(storage.data(), {2, 2, 2});
#endif
  voxformer::pack_bits(voxformer::cpu_executor{}, grid, voxformer::make_view<1>(bytes.data(), {1}));
}
