// A user's program: VoxFormer stage 1 (query proposals from an occupancy grid) and stage 2 + head on the user's own
// tensors (Eigen here) with weights files, through the installed package. The README's stage-1 and pipeline
// snippets are the parts between the example markers. Small sizes and seeded random weights keep it fast; real
// checkpoints load the same way.
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
  Eigen::Tensor<std::uint8_t, 3, Eigen::RowMajor> occupancy(16, 16, 8);  // e.g. voxelize(pseudo-LiDAR points)
  occupancy.setZero();
  occupancy(6, 8, 2) = occupancy(10, 4, 4) = 1;
  qpn_config qpn;
  qpn.grid = {16, 16, 8};  // official: 256 × 256 × 32
  const auto qpn_path = std::filesystem::temp_directory_path() / "voxformer_consumer_qpn.safetensors";
  qpn_parameter_store<float>::random(qpn, 2).write_safetensors(qpn_path);

  // example-begin stage1
  // Stage 1: LMSCNet_SS by its official names; the occupancy [X, Y, Z] in, the proposal [X/2, Y/2, Z/2] out.
  const auto qpn_weights = qpn_parameter_store<float>::from_file(qpn, io::safetensors_file::open(qpn_path));
  proposal_pipeline<cpu_executor, float> proposer(cpu_executor{2}, qpn, qpn_weights.parameters());
  Eigen::Tensor<std::uint8_t, 3, Eigen::RowMajor> proposal(8, 8, 4);  // 1 = proposed
  proposer.run(occupancy, proposal);
  // example-end stage1
  proposal(3, 4, 1) = 1;  // random weights may propose nothing; stage 2 runs either way

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
  std::filesystem::remove(qpn_path);
  index_t proposed = 0;
  for (index_t i = 0; i < proposal.size(); ++i) proposed += proposal.data()[i];
  const bool ok = report.proposals == proposed && report.stages.size() == 2 + 3 + 1 + 2 + 1;
  std::printf("consumer pipeline: %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
