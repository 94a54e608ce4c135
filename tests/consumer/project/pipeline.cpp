// A user's program: VoxFormer stage 2 + head on the user's own tensors (Eigen here) with a weights file, through
// the installed package. The README's pipeline snippet is the part between the example markers.
// A small configuration and seeded random weights keep it fast; a real checkpoint loads the same way.
#include <cstdio>
#include <filesystem>
#include <voxformer/voxformer.hpp>

int main() {
  using namespace voxformer;
  model_config config = model_config::voxformer_s();  // then shrink it: every value is settable
  config.volume = {8, 8, 4};
  config.view_shape = {16, 16};
  config.embed_dims = 32;
  config.heads = 4;
  config.feature_shapes = {{6, 10}};
  // A weights file in the official layout (what scripts/convert_checkpoint.py makes from a .pth); random here.
  const auto path = std::filesystem::temp_directory_path() / "voxformer_consumer.safetensors";
  parameter_store<float>::random(config, 1).write_safetensors(path);
  const index_t cams = config.cameras, c = config.embed_dims;
  Eigen::Tensor<float, 5, Eigen::RowMajor> image_features(1, cams, c, 6, 10);  // your backbone's output
  image_features.setRandom();
  float calibration[16] = {600.56f, -708.15f, -9.59f, -204.41f, 178.52f, 5.36f, -708.24f, -113.04f,
                           1.f,     -0.0018f, -0.0065f, -0.33f, 0.f,     0.f,   0.f,     1.f};  // K4·Tr of KITTI seq 08
  Eigen::TensorMap<Eigen::Tensor<float, 3, Eigen::RowMajor>> lidar2img(calibration, cams, 4, 4);
  Eigen::Tensor<std::uint8_t, 3, Eigen::RowMajor> proposal(8, 8, 4);  // from stage 1: 1 = proposed
  proposal.setZero();
  proposal(3, 4, 1) = proposal(5, 2, 2) = 1;

  // example-begin pipeline
  // Load a checkpoint in the official layout; every name, dtype and shape is checked against the config.
  const auto weights = parameter_store<float>::from_file(config, io::safetensors_file::open(path));
  // Size everything once; a frame then allocates nothing.
  pipeline<cpu_executor, float> model(cpu_executor{2}, config, weights.parameters());
  Eigen::Tensor<std::uint8_t, 3, Eigen::RowMajor> labels(16, 16, 8);  // [2X, 2Y, 2Z]
  // Per frame: your tensors in, labels out (another overload also writes the logits into your buffer).
  const run_report& report = model.run(image_features, lidar2img, proposal, labels);
  for (const auto& stage : report.stages) std::printf("%-12s %7.2f ms\n", stage.name.c_str(), stage.milliseconds);
  // example-end pipeline

  std::filesystem::remove(path);
  const bool ok = report.proposals == 2 && report.stages.size() == 2 + 3 + 1 + 2 + 1;
  std::printf("consumer pipeline: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
