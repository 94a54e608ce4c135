// Bird's-eye pictures: where a voxel lands, its shade (hand-computed), which voxel of a column wins, the background,
// the errors (nothing written), and the same bytes for 1 and 2 threads.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "support/error_of.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/viz/bird_eye_view.hpp"

namespace {

using test::error_of;
using voxformer::cpu_executor;
using voxformer::index_t;
using voxformer::make_view;
using voxformer::viz::render_bird_eye_classes;
using voxformer::viz::render_bird_eye_occupancy;
using pixel = std::array<std::uint8_t, 3>;

constexpr pixel background = {7, 8, 9};

//! A volume [X, Y, Z] of bytes with its image [X, Y, 3], filled with 42 (so that a pixel left unwritten shows).
struct scene {
  index_t X, Y, Z;
  std::vector<std::uint8_t> voxels = std::vector<std::uint8_t>(static_cast<std::size_t>(X * Y * Z), 0);
  std::vector<std::uint8_t> image = std::vector<std::uint8_t>(static_cast<std::size_t>(X * Y * 3), 42);
  std::uint8_t& voxel(index_t x, index_t y, index_t z) { return voxels[static_cast<std::size_t>((x * Y + y) * Z + z)]; }
  pixel at(index_t row, index_t column) const {
    const auto* p = &image[static_cast<std::size_t>((row * Y + column) * 3)];
    return {p[0], p[1], p[2]};
  }
  auto volume_view() { return make_view<3>(voxels.data(), {X, Y, Z}); }
  auto image_view() { return make_view<3>(image.data(), {X, Y, 3}); }
};

// Class 1 red, 2 a colour with every channel different, 3 white.
const std::vector<std::uint8_t> default_palette = {0, 0, 0, 255, 0, 0, 100, 200, 255, 255, 255, 255};

auto palette_view(const std::vector<std::uint8_t>& palette = default_palette) {
  return make_view<2>(palette.data(), {static_cast<index_t>(palette.size() / 3), 3});
}

void render_classes(scene& s, const std::vector<std::uint8_t>& palette = default_palette, int threads = 1) {
  render_bird_eye_classes(cpu_executor{threads}, s.volume_view(), palette_view(palette), s.image_view(), 0, 255,
                          background);
}

TEST(BirdEyeClasses, AVoxelLandsAtRowXMinus1MinusXAndColumnYMinus1MinusY) {
  scene s{4, 3, 5};  // X, Y, Z all different
  s.voxel(1, 0, 2) = 2;
  render_classes(s);
  // (100, 200, 255)·(0.55 + 0.45·3/5 = 0.82) = (82, 164, 209.1), rounded.
  for (index_t row = 0; row < 4; ++row)
    for (index_t column = 0; column < 3; ++column)
      EXPECT_EQ(s.at(row, column), (row == 2 && column == 2 ? pixel{82, 164, 209} : background))
          << row << ", " << column;
}

TEST(BirdEyeClasses, EveryVoxelLandsOnItsPixelWithTheShadeOfItsHeight) {
  const index_t X = 3, Y = 4, Z = 4;
  // 255·(0.55 + 0.45·(z+1)/4) = 168.94, 197.63, 226.31, 255 for red; 200· gives 132.5, 155, 177.5, 200 (halves up).
  const std::uint8_t red_by_z[] = {169, 198, 226, 255}, white_by_z[] = {133, 155, 178, 200};
  auto palette = default_palette;
  palette[9] = palette[10] = palette[11] = 200;
  for (index_t x = 0; x < X; ++x)
    for (index_t y = 0; y < Y; ++y)
      for (index_t z = 0; z < Z; ++z)
        for (const std::uint8_t c : {std::uint8_t{1}, std::uint8_t{3}}) {
          scene s{X, Y, Z};
          s.voxel(x, y, z) = c;
          render_classes(s, palette);
          const pixel drawn = c == 1 ? pixel{red_by_z[z], 0, 0} : pixel{white_by_z[z], white_by_z[z], white_by_z[z]};
          for (index_t row = 0; row < X; ++row)
            for (index_t column = 0; column < Y; ++column)
              ASSERT_EQ(s.at(row, column), (row == X - 1 - x && column == Y - 1 - y ? drawn : background))
                  << "voxel " << x << ", " << y << ", " << z << " pixel " << row << ", " << column;
        }
}

TEST(BirdEyeClasses, TheTopmostDrawnVoxelWinsAndEmptyOrIgnoredGiveTheBackground) {
  scene s{2, 2, 32};
  s.voxel(0, 0, 0) = 1, s.voxel(0, 0, 5) = 2, s.voxel(0, 0, 6) = 255;  // 2 wins: 255 is ignored, 0 empty
  s.voxel(1, 1, 3) = 255, s.voxel(1, 1, 9) = 255;                        // nothing but ignored voxels
  s.voxel(1, 0, 0) = 1;                                                   // the bottom layer: 0.55 + 0.45/32
  render_classes(s);
  EXPECT_EQ(s.at(1, 1), (pixel{63, 127, 162}));  // (100, 200, 255)·(0.55 + 0.45·6/32 = 0.634375)
  EXPECT_EQ(s.at(0, 0), background);
  EXPECT_EQ(s.at(0, 1), (pixel{144, 0, 0}));  // 255·0.5640625 = 143.84
  EXPECT_EQ(s.at(1, 0), background);          // column (0, 1): all empty
}

TEST(BirdEyeClasses, EmptyAndIgnoreAreArguments) {
  scene s{1, 1, 4};
  s.voxel(0, 0, 0) = 3, s.voxel(0, 0, 1) = 1, s.voxel(0, 0, 2) = 2;  // z = 3: class 0
  auto palette = default_palette;
  palette[0] = 40;
  const auto render = [&](std::uint8_t empty_class, std::uint8_t ignore) {
    render_bird_eye_classes(cpu_executor{1}, s.volume_view(), palette_view(palette), s.image_view(), empty_class,
                            ignore, background);
    return s.at(0, 0);
  };
  EXPECT_EQ(render(0, 2), (pixel{198, 0, 0}));  // class 1 at z = 1: 255·0.775 = 197.6
  EXPECT_EQ(render(2, 3), (pixel{40, 0, 0}));   // class 0 at the top
  EXPECT_EQ(render(0, 1), (pixel{89, 178, 226}));  // class 2 at z = 2: (100, 200, 255)·0.8875, 177.5 rounds up
}

TEST(BirdEyeClasses, AClassWithoutAPaletteRowIsAnErrorThatWritesNothing) {
  scene s{3, 3, 2};
  s.voxel(1, 2, 1) = 4;
  EXPECT_CONTAINS(error_of([&] { render_classes(s); }),
                  "voxformer::viz::render_bird_eye_classes: voxel (1, 2, 1) of 'labels' holds class 4, but 'palette' "
                  "has 4 rows");
  EXPECT_EQ(s.image, std::vector<std::uint8_t>(s.image.size(), 42));
}

TEST(BirdEyeClasses, ShapesAreChecked) {
  scene s{4, 3, 2};
  std::vector<std::uint8_t> transposed(4 * 3 * 3);
  EXPECT_CONTAINS(error_of([&] {
                    render_bird_eye_classes(cpu_executor{1}, s.volume_view(), palette_view(),
                                            make_view<3>(transposed.data(), {3, 4, 3}));
                  }),
                  "render_bird_eye_classes: argument 'image' [X, Y, 3] expected shape [4, 3, 3], got [3, 4, 3]");
  EXPECT_CONTAINS(error_of([&] {
                    render_bird_eye_classes(cpu_executor{1}, s.volume_view(),
                                            make_view<2>(default_palette.data(), {3, 4}),
                                            s.image_view());
                  }),
                  "render_bird_eye_classes: argument 'palette' [classes, 3] expected shape [*, 3], got [3, 4]");
  EXPECT_CONTAINS(error_of([&] {
                    render_bird_eye_classes(cpu_executor{1}, make_view<3>(s.image.data(), {4, 3, 2}), palette_view(),
                                            s.image_view());
                  }),
                  "render_bird_eye_classes: output 'image' overlaps input 'labels'");
  EXPECT_EQ(s.image, std::vector<std::uint8_t>(s.image.size(), 42));
}

//! The picture by brute force, pixel by pixel, from the documented rule.
std::vector<std::uint8_t> classes_brute_force(scene& s) {
  std::vector<std::uint8_t> image;
  for (index_t row = 0; row < s.X; ++row)
    for (index_t column = 0; column < s.Y; ++column) {
      const index_t x = s.X - 1 - row, y = s.Y - 1 - column;
      pixel p = background;
      for (index_t z = 0; z < s.Z; ++z) {
        const auto c = s.voxel(x, y, z);
        if (c != 0 && c != 255)
          for (std::size_t ch = 0; ch < 3; ++ch)
            p[ch] = voxformer::kernels::shade_by_height(default_palette[3 * c + ch], z, s.Z);
      }
      image.insert(image.end(), p.begin(), p.end());
    }
  return image;
}

TEST(BirdEyeClasses, OneAndTwoThreadsGiveTheBruteForceBytes) {
  scene s{128, 64, 8};  // 8192 columns: enough for two threads to share
  std::mt19937 random(3);
  for (auto& v : s.voxels) v = random() % 3 == 0 ? static_cast<std::uint8_t>(random() % 4) : (random() % 7 ? 0 : 255);
  const auto expected = classes_brute_force(s);
  render_classes(s, default_palette, 1);
  EXPECT_EQ(s.image, expected);
  std::fill(s.image.begin(), s.image.end(), 42);
  render_classes(s, default_palette, 2);
  EXPECT_EQ(s.image, expected);
}

TEST(BirdEyeClasses, EmptyVolumes) {
  scene flat{2, 3, 0};  // no height: every pixel is background
  render_classes(flat);
  for (index_t row = 0; row < 2; ++row)
    for (index_t column = 0; column < 3; ++column) EXPECT_EQ(flat.at(row, column), background);
  scene none{0, 3, 4};
  render_classes(none);
  EXPECT_TRUE(none.image.empty());
}

TEST(BirdEyeOccupancy, TheTopmostNonZeroVoxelGivesTheColourShadedByHeight) {
  const index_t X = 3, Y = 2, Z = 4;
  std::vector<float> grid(X * Y * Z, 0.f);
  grid[(2 * Y + 0) * Z + 1] = 0.5f;  // (2, 0, 1): pixel (0, 1), factor 0.775
  grid[(0 * Y + 1) * Z + 0] = -1.f;  // (0, 1, 0) and (0, 1, 3): pixel (2, 0), the top one, factor 1
  grid[(0 * Y + 1) * Z + 3] = 1e-30f;
  std::vector<std::uint8_t> image(X * Y * 3, 42);
  render_bird_eye_occupancy(cpu_executor{1}, make_view<3>(grid.data(), {X, Y, Z}),
                            make_view<3>(image.data(), {X, Y, 3}), {20, 100, 255}, background);
  const std::vector<std::uint8_t> expected = {7, 8, 9, 16, 78, 198,  // row 0: 20·0.775 = 15.5 rounds up
                                              7, 8, 9, 7,  8,  9,    // row 1
                                              20, 100, 255, 7, 8, 9};
  EXPECT_EQ(image, expected);
}

TEST(BirdEyeOccupancy, TheElementTypeCanBeGiven) {
  std::vector<std::int16_t> grid = {0, 3};  // [1, 1, 2]: occupied at the top
  std::vector<std::uint8_t> image(3, 42);
  const voxformer::tensor_view<std::int16_t, 3> view(grid.data(), {1, 1, 2});
  render_bird_eye_occupancy<std::int16_t>(cpu_executor{1}, view, make_view<3>(image.data(), {1, 1, 3}), {1, 2, 3});
  EXPECT_EQ(image, (std::vector<std::uint8_t>{1, 2, 3}));
  grid[1] = 0;  // nothing occupied: the default background is black
  render_bird_eye_occupancy(cpu_executor{1}, view, make_view<3>(image.data(), {1, 1, 3}), {1, 2, 3});
  EXPECT_EQ(image, (std::vector<std::uint8_t>{0, 0, 0}));
  EXPECT_CONTAINS(error_of([&] {
                    render_bird_eye_occupancy(cpu_executor{1}, view, make_view<3>(image.data(), {1, 2, 3}), {1, 2, 3});
                  }),
                  "voxformer::viz::render_bird_eye_occupancy: argument 'image' [X, Y, 3] expected shape [1, 1, 3], "
                  "got [1, 2, 3]");
}

}  // namespace
