// A user's program: the whole VoxFormer from camera images — the image path (ResNet-50 + FPN) and stage 2 + head
// from one checkpoint in the official layout — fed a sequence frame by frame, through the installed package. The
// README's whole-model snippet is the part between the example markers. A shrunken network (the same graph) and
// seeded random weights keep it fast; the official checkpoint loads the same way.
#include <cstdio>
#include <filesystem>
#include <vector>
#include <voxformer/voxformer.hpp>

int main() {
  using namespace voxformer;
  // VoxFormer-T, then shrunk: 3 cameras (t, t−2, t−1), an 8 × 8 × 4 query volume, a 33 × 57 crop, base width 8.
  voxformer_model_config config = voxformer_model_config::preset("T", false);
  config.head.volume = {8, 8, 4};
  config.head.view_shape = {16, 16};
  config.head.embed_dims = 32;
  config.head.heads = 4;
  config.head.cameras = 3;
  config.temporal_offsets = {0, -2, -1};
  config.image.crop = {33, 57};
  config.head.image = {33, 57};
  config.image.base_width = 8;
  config.image.blocks = {1, 1, 1};
  config.image.neck_channels = 32;
  config.head.feature_shapes = {{3, 4}};  // the crop halved four times
  // One checkpoint holding every part (what scripts/convert_checkpoint.py makes of the official .pth); random here.
  const auto checkpoint = std::filesystem::temp_directory_path() / "voxformer_consumer_model.safetensors";
  {
    const auto image = image_backbone_store<float>::random(config.image, 1);
    const auto head = parameter_store<float>::random(config.head, 2);
    auto tensors = image.safetensors_tensors();
    const auto head_tensors = head.safetensors_tensors();
    tensors.insert(tensors.end(), head_tensors.begin(), head_tensors.end());
    io::write_safetensors(checkpoint, tensors);
  }
  std::vector<std::uint8_t> pixels(37 * 61 * 3);  // the camera driver's 8-bit RGB, at least the crop
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 31 % 251);
  const auto camera_image = make_view<4>(static_cast<const std::uint8_t*>(pixels.data()), {1, 37, 61, 3});
  std::vector<float> matrices;  // K4·Tr of KITTI sequence 08, scaled to the crop; from io::temporal_lidar_to_image
  for (int k = 0; k < 3; ++k)
    matrices.insert(matrices.end(), {27.9f, -33.1f, -0.4f, -9.6f, 15.9f, 0.5f, -63.2f, -10.1f, 1.f, -0.0018f, -0.0065f,
                                     -0.33f, 0.f, 0.f, 0.f, 1.f});
  const auto lidar2img = make_view<3>(static_cast<const float*>(matrices.data()), {3, 4, 4});
  std::vector<std::uint8_t> proposed(8 * 8 * 4, 0);
  proposed[100] = proposed[101] = proposed[180] = 1;
  const auto proposal = make_view<3>(static_cast<const std::uint8_t*>(proposed.data()), {8, 8, 4});

  // example-begin model
  // One checkpoint in the official layout holds the image path and the head (img_backbone.*, img_neck.*,
  // pts_bbox_head.*); each part is read by its names and checked against the configuration.
  const auto image_weights = image_backbone_store<float>::from_file(config.image, io::safetensors_file::open(checkpoint));
  const auto head_weights = parameter_store<float>::from_file(config.head, io::safetensors_file::open(checkpoint));
  // The whole model, sized once: camera images → features → (stage 1, when configured) → stage 2 + head.
  voxformer_model<cpu_executor, float> voxformer(cpu_executor{2}, config,
                                                 {image_weights.parameters(), head_weights.parameters()});
  std::vector<std::uint8_t> labels(16 * 16 * 8);  // [2X, 2Y, 2Z]
  // A sequence frame by frame: the current camera image [1, H, W, 3] in; the past cameras' features are kept, so
  // each frame costs one pass of the image path.
  for (index_t frame = 0; frame < 4; ++frame) {
    const run_report& report =
        voxformer.run_stream(frame, camera_image, lidar2img, proposal, make_view<3>(labels.data(), {16, 16, 8}));
    std::printf("frame %lld: %.1f ms, %lld queries\n", static_cast<long long>(frame), report.total_milliseconds(),
                static_cast<long long>(report.proposals));
  }
  // example-end model

  std::filesystem::remove(checkpoint);
  const bool ok = voxformer.report().proposals == 3 && voxformer.report().stages.front().name == "image.preprocess";
  std::printf("consumer whole model: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
