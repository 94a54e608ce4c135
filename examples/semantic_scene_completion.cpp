// From a sensor frame to a labelled 3-D scene with VoxFormer, end to end, on a SemanticKITTI frame (by default the
// bundled 08/001000): the LiDAR scan — optionally through a sparse depth map in camera 2, the way VoxFormer's stage 1
// starts from stereo depth — becomes pseudo-LiDAR points, voxelised into the 256×256×32 occupancy grid; stage 1
// proposes query voxels (the query proposal network when its weights are given, otherwise the voxelised input
// downsampled); stage 2 + head complete and label the scene. It writes the prediction as a SemanticKITTI
// submission file, a bird's-eye-view picture and a coloured point set, scores the prediction against a ground
// truth made from the frame's own labelled scan, and prints each stage's time and peak memory.
//
// The cameras' images go through the image path (ResNet-50 to layer3 + FPN) with the head, as one whole-model object:
// PNG files (--images), or — the bundled frame has no camera image, KITTI's not being ours to ship — pictures of the
// scan as each camera would see it, rendered here. VoxFormer-T's past cameras come from the sequence's real poses.
// Weights are random unless files are given — then the labels and scores only show that the path runs.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <voxformer/backend/cpu/cpu_executor.hpp>
#include <voxformer/io/kitti.hpp>
#include <voxformer/io/kitti_poses.hpp>
#include <voxformer/io/label_map.hpp>
#include <voxformer/io/label_volume.hpp>
#include <voxformer/io/npy.hpp>
#include <voxformer/io/ply.hpp>
#include <voxformer/io/png.hpp>
#include <voxformer/io/voxel_grid.hpp>
#include <voxformer/metrics/ssc_metrics.hpp>
#include <voxformer/model/parameter_store.hpp>
#include <voxformer/ops/voxel/depth_map.hpp>
#include <voxformer/ops/voxel/downsample.hpp>
#include <voxformer/ops/voxel/pseudo_lidar.hpp>
#include <voxformer/ops/voxel/voxelize.hpp>
#include <voxformer/ops/voxel/voxelize_semantic.hpp>
#include <voxformer/pipeline/proposal_pipeline.hpp>
#include <voxformer/pipeline/voxformer_model.hpp>
#include <voxformer/viz/bird_eye_view.hpp>

#include "support/camera_images.hpp"
#include "support/peak_rss.hpp"
#include "support/staged_output.hpp"

namespace {

using namespace voxformer;
namespace fs = std::filesystem;

struct options {
  fs::path frame = fs::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantickitti_08_001000";
  fs::path out = "voxformer_output";
  fs::path label_map = fs::path(VOXFORMER_EXAMPLE_DATA_DIR) / "semantic-kitti.yaml";
  std::string variant = "S", weights, qpn_weights;
  std::vector<std::string> images;
  std::uint64_t seed = 1;
  int threads = 2;
  bool via_depth = false;
  int scale = 2;  // pixels per voxel in the picture
};

//! Each stage's wall time and the process's peak memory once it finished.
class stage_table {
 public:
  template <class F>
  auto time(const std::string& name, F&& f) {
    const auto start = std::chrono::steady_clock::now();
    auto finish = [&] {
      rows_.push_back({name,
                       std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
                       tools::peak_rss_mib()});
    };
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      finish();
    } else {
      auto result = f();
      finish();
      return result;
    }
  }
  //! The stages a library pipeline reported for the last timed stage, as indented rows under it.
  void add_parts(const run_report& report) {
    for (const auto& stage : report.stages) rows_.push_back({"  " + stage.name, stage.milliseconds, -1});
  }
  void print() const {
    double total = 0;
    std::printf("\n  %-30s %10s %14s\n", "stage", "ms", "peak RSS MiB");
    for (const auto& r : rows_) {
      if (r.peak_mib < 0) {
        std::printf("  %-30s %10.1f\n", r.name.c_str(), r.milliseconds);
        continue;
      }
      std::printf("  %-30s %10.1f %14.1f\n", r.name.c_str(), r.milliseconds, r.peak_mib);
      total += r.milliseconds;
    }
    std::printf("  %-30s %10.1f\n", "total", total);
  }

 private:
  struct row {
    std::string name;
    double milliseconds, peak_mib;  // peak_mib < 0: a part of the stage above
  };
  std::vector<row> rows_;
};

//! The frame's files: the scan, its point labels when present, the calibration, the invalid mask when present.
struct frame_data {
  std::vector<float> scan;  // [N, 4]
  std::vector<std::uint32_t> labels;
  io::kitti_calibration calibration;
  std::vector<std::uint8_t> invalid;  // [256·256·32], pre-fix convention (spec §2.7), or empty
  index_t points() const { return static_cast<index_t>(scan.size() / 4); }
};

frame_data read_frame(const fs::path& dir) {
  frame_data f;
  f.scan = io::read_kitti_scan(dir / "scan.bin");
  if (fs::exists(dir / "scan.label")) f.labels = io::read_kitti_labels(dir / "scan.label", f.scan.size() / 4);
  f.calibration = io::read_kitti_calibration(dir / "calib.txt");
  if (fs::exists(dir / "voxels.invalid")) f.invalid = io::read_packed_grid(dir / "voxels.invalid", {256, 256, 32});
  return f;
}

//! The points stage 1 voxelises: the scan itself, or (via_depth) the pseudo-LiDAR of the scan's depth map in
//! camera 2 over VoxFormer's 370 × 1220 crop — each pixel's nearest point, moved to its pixel centre.
std::vector<float> stage1_points(const cpu_executor& cpu, const frame_data& f, bool via_depth, index_t& kept) {
  if (!via_depth) {
    kept = f.points();
    return f.scan;
  }
  constexpr index_t height = 370, width = 1220;
  const auto camera_2 = pinhole_camera::from_projection(f.calibration.p[2]);
  std::vector<float> depth(static_cast<std::size_t>(height * width));
  points_to_depth_map(cpu, make_view<2>(f.scan.data(), {f.points(), 4}), camera_2, io::to_mat4f(f.calibration.tr),
                      make_view<2>(depth.data(), {height, width}));
  std::vector<float> points(static_cast<std::size_t>(height * width * 4));
  depth_to_points(cpu, make_view<2>(static_cast<const float*>(depth.data()), {height, width}), camera_2,
                  io::to_mat4f(f.calibration.camera_to_lidar()), make_view<2>(points.data(), {height * width, 4}));
  kept = 0;
  for (index_t i = 0; i < height * width; ++i) kept += points[static_cast<std::size_t>(4 * i + 3)] > 0.f ? 1 : 0;
  return points;
}

//! lidar2img of each camera (spec §3.2): the current frame's K4·Tr, and for VoxFormer-T the frames t−12, t−9, t−6,
//! t−3 of the sequence from its poses (`poses.txt` in the frame's folder).
std::vector<Eigen::Matrix4d> camera_matrices(const voxformer_model_config& config, const fs::path& frame_dir,
                                             const io::kitti_calibration& calibration, index_t frame) {
  if (config.head.cameras == 1) return {calibration.lidar_to_image()};
  const fs::path poses = frame_dir / "poses.txt";
  detail::require(fs::exists(poses), "VoxFormer-", config.head.variant, " sees past frames: it needs the sequence's ",
                  poses.string());
  return io::temporal_lidar_to_image(calibration, io::read_kitti_poses(poses), frame, config.temporal_offsets);
}

//! A picture of the scan as a camera sees it, [h, w, 3] — a stand-in for the camera image the bundled frame does not
//! have: every point in front of the camera drawn 3×3 pixels wide, the nearest in front, in its class's colour (grey
//! by distance where the scan has no labels), over a plain sky and ground. Only the image path's input, to show that
//! the path runs: with trained weights a real camera image is what makes sense.
std::vector<std::uint8_t> render_scan_view(const frame_data& f, const io::label_map& map, const Eigen::Matrix4d& lidar2img,
                                           index_t h, index_t w) {
  std::vector<std::uint8_t> image(static_cast<std::size_t>(h * w * 3));
  for (index_t r = 0; r < h; ++r)  // sky above the horizon (about a third down), ground below
    for (index_t c = 0; c < w; ++c)
      for (int k = 0; k < 3; ++k)
        image[static_cast<std::size_t>((r * w + c) * 3 + k)] =
            r < h / 3 ? std::uint8_t(std::array{150, 180, 220}[k]) : std::uint8_t(std::array{90, 85, 80}[k]);
  std::vector<float> nearest(static_cast<std::size_t>(h * w), INFINITY);
  for (index_t i = 0; i < f.points(); ++i) {
    const Eigen::Vector4d p(f.scan[static_cast<std::size_t>(4 * i)], f.scan[static_cast<std::size_t>(4 * i + 1)],
                            f.scan[static_cast<std::size_t>(4 * i + 2)], 1.0);
    const Eigen::Vector4d q = lidar2img * p;
    if (!(q[2] > 0.5)) continue;
    const auto u = static_cast<index_t>(std::floor(q[0] / q[2])), v = static_cast<index_t>(std::floor(q[1] / q[2]));
    std::uint8_t rgb[3] = {0, 0, 0};
    if (!f.labels.empty()) {
      const auto colour = map.class_colour(map.to_class(f.labels[static_cast<std::size_t>(i)]));
      rgb[0] = colour.r, rgb[1] = colour.g, rgb[2] = colour.b;
    } else {
      std::fill(std::begin(rgb), std::end(rgb), static_cast<std::uint8_t>(255 * std::exp(-q[2] / 30.0)));
    }
    for (index_t y = v - 1; y <= v + 1; ++y)
      for (index_t x = u - 1; x <= u + 1; ++x) {
        if (y < 0 || y >= h || x < 0 || x >= w) continue;
        float& depth = nearest[static_cast<std::size_t>(y * w + x)];
        if (q[2] >= depth) continue;
        depth = static_cast<float>(q[2]);
        for (int k = 0; k < 3; ++k) image[static_cast<std::size_t>((y * w + x) * 3 + k)] = rgb[k];
      }
  }
  return image;
}

//! The pre-fix invalid mask (spec §2.7: its layers sit one voxel higher) in VoxFormer's convention: layer z is the
//! file's z + 1; the top layer, which the file cannot describe, counts as invalid.
std::vector<std::uint8_t> invalid_in_voxformer_convention(const std::vector<std::uint8_t>& pre_fix) {
  std::vector<std::uint8_t> shifted(pre_fix.size(), 1);
  for (std::size_t v = 0; v < pre_fix.size(); ++v)
    if (v % 32 != 31) shifted[v] = pre_fix[v + 1];
  return shifted;
}

//! Panels side by side, each [256, 256, 3] scaled by `scale` (nearest), 8-pixel dark gaps between them.
std::vector<std::uint8_t> side_by_side(const std::vector<std::vector<std::uint8_t>>& panels, index_t side, int scale,
                                       index_t& width, index_t& height) {
  constexpr index_t gap = 8;
  const index_t n = static_cast<index_t>(panels.size()), cell = side * scale;
  width = n * cell + (n - 1) * gap, height = cell;
  std::vector<std::uint8_t> image(static_cast<std::size_t>(width * height * 3), 24);
  for (index_t p = 0; p < n; ++p)
    for (index_t r = 0; r < cell; ++r)
      for (index_t c = 0; c < cell; ++c)
        for (index_t k = 0; k < 3; ++k)
          image[static_cast<std::size_t>((r * width + p * (cell + gap) + c) * 3 + k)] =
              panels[static_cast<std::size_t>(p)][static_cast<std::size_t>(((r / scale) * side + c / scale) * 3 + k)];
  return image;
}

//! A coarse [128, 128, 16] grid seen as the fine one it covers ([256, 256, 32], nearest).
std::vector<std::uint8_t> upsample_nearest(const std::vector<std::uint8_t>& coarse) {
  std::vector<std::uint8_t> fine(static_cast<std::size_t>(256 * 256 * 32));
  for (index_t x = 0; x < 256; ++x)
    for (index_t y = 0; y < 256; ++y)
      for (index_t z = 0; z < 32; ++z)
        fine[static_cast<std::size_t>((x * 256 + y) * 32 + z)] =
            coarse[static_cast<std::size_t>(((x / 2) * 128 + y / 2) * 16 + z / 2)];
  return fine;
}

//! The occupied voxels of `labels` (a class, not empty or ignored) as coloured points at their centres.
void write_point_set(const fs::path& path, const std::vector<std::uint8_t>& labels, const io::label_map& map) {
  const auto g = volume_geometry::voxformer_fine();
  std::vector<float> positions;
  std::vector<std::uint8_t> colours;
  for (index_t v = 0; v < g.voxel_count(); ++v) {
    const std::uint8_t c = labels[static_cast<std::size_t>(v)];
    if (c == 0 || c == io::label_map::ignore) continue;
    const auto xyz = g.coord_of(v);
    const index_t at[3] = {xyz.x, xyz.y, xyz.z};
    for (int a = 0; a < 3; ++a) positions.push_back(g.origin[a] + (static_cast<float>(at[a]) + 0.5f) * g.voxel_size[a]);
    const auto rgb = map.class_colour(c);
    for (const std::uint8_t channel : {rgb.r, rgb.g, rgb.b}) colours.push_back(channel);
  }
  const index_t n = static_cast<index_t>(colours.size() / 3);
  io::write_ply_points(path, make_view<2>(static_cast<const float*>(positions.data()), {n, 3}),
                       make_view<2>(static_cast<const std::uint8_t*>(colours.data()), {n, 3}));
}

//! The picture: input occupancy | proposals | prediction (| ground truth), each 256×256 seen from above with the
//! car at the bottom, `scale` pixels per voxel. Returns its width and height.
std::array<index_t, 2> write_picture(const cpu_executor& executor, const fs::path& path, int scale,
                                     const io::label_map& map, const std::vector<std::uint8_t>& occupancy,
                                     const std::vector<std::uint8_t>& proposal,
                                     const std::vector<std::uint8_t>& prediction,
                                     const std::vector<std::uint8_t>& ground_truth) {
  std::vector<std::uint8_t> palette;
  for (index_t c = 0; c < map.classes(); ++c) {
    const auto rgb = map.class_colour(c);
    for (const std::uint8_t channel : {rgb.r, rgb.g, rgb.b}) palette.push_back(channel);
  }
  const auto palette_view = make_view<2>(static_cast<const std::uint8_t*>(palette.data()), {map.classes(), 3});
  auto grid = [](const std::vector<std::uint8_t>& v) { return make_view<3>(v.data(), {256, 256, 32}); };
  auto panel = [&](auto render) {
    std::vector<std::uint8_t> image(256 * 256 * 3);
    render(make_view<3>(image.data(), {256, 256, 3}));
    return image;
  };
  const auto proposal_fine = upsample_nearest(proposal);
  std::vector<std::vector<std::uint8_t>> panels = {
      panel([&](auto image) {
        viz::render_bird_eye_occupancy(executor, grid(occupancy), image, {220, 220, 220});
      }),
      panel([&](auto image) {
        viz::render_bird_eye_occupancy(executor, grid(proposal_fine), image, {255, 170, 60});
      }),
      panel([&](auto image) { viz::render_bird_eye_classes(executor, grid(prediction), palette_view, image); })};
  if (!ground_truth.empty())
    panels.push_back(
        panel([&](auto image) { viz::render_bird_eye_classes(executor, grid(ground_truth), palette_view, image); }));
  index_t width = 0, height = 0;
  const auto picture = side_by_side(panels, 256, scale, width, height);
  io::write_png(path, picture, width, height);
  return {width, height};
}

void print_scores(const ssc_metrics& m, const io::label_map& map) {
  std::printf("\n  completion: precision %.2f %%, recall %.2f %%, IoU %.2f %%; semantic mIoU %.2f %% (%lld voxels)\n",
              100 * m.precision(), 100 * m.recall(), 100 * m.iou(), 100 * m.miou(), static_cast<long long>(m.voxels()));
  std::printf("  %-14s %8s   %-14s %8s\n", "class", "IoU %", "class", "IoU %");
  for (index_t c = 1; c < m.classes(); c += 2) {
    std::printf("  %-14s %8.2f", map.class_name(c).c_str(), 100 * m.class_iou(c));
    if (c + 1 < m.classes()) std::printf("   %-14s %8.2f", map.class_name(c + 1).c_str(), 100 * m.class_iou(c + 1));
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  options o;
  CLI::App app{
      "VoxFormer end to end on a SemanticKITTI frame: scan → (depth map →) pseudo-LiDAR → occupancy → query "
      "proposals → stage 2 + head → a labelled 256×256×32 scene, written as <frame>.label, a bird's-eye-view "
      "PNG and a .ply point set, and scored against a ground truth made from the frame's labelled scan."};
  app.add_option("--frame", o.frame, "frame folder: scan.bin, calib.txt; scan.label and voxels.invalid for the scores")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("--out", o.out,
                 "output folder (created once every output was written: a failed run leaves it as it was)")
      ->capture_default_str();
  app.add_option("--variant", o.variant,
                 "VoxFormer variant (T: 5 cameras, the frame's and 4 past ones, from the sequence's poses.txt)")
      ->check(CLI::IsMember({"T", "S", "T-3D", "S-3D"}))
      ->capture_default_str();
  app.add_option("--weights", o.weights,
                 "checkpoint .safetensors of the image path and stage 2 (img_backbone.*, img_neck.*, pts_bbox_head.*; "
                 "default: random weights)")
      ->check(CLI::ExistingFile);
  app.add_option("--qpn-weights", o.qpn_weights,
                 "stage-1 checkpoint .safetensors (default: no network; the voxelised input downsampled)")
      ->check(CLI::ExistingFile);
  app.add_option("--images", o.images,
                 "camera images, 8-bit RGB PNG of at least 370x1220, one per camera (T: frames t, t-12, t-9, t-6, t-3; "
                 "default: the scan rendered as each camera sees it)")
      ->check(CLI::ExistingFile);
  app.add_option("--seed", o.seed, "seed of the random weights")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads")
      ->check(CLI::Range(1, cpu_executor::max_threads()))
      ->capture_default_str();
  app.add_flag("--via-depth", o.via_depth,
               "go through a sparse depth map in camera 2, as stage 1 does with stereo depth");
  app.add_option("--label-map", o.label_map, "SemanticKITTI label configuration (yaml)")
      ->check(CLI::ExistingFile)
      ->capture_default_str();
  app.add_option("--scale", o.scale, "picture pixels per voxel")->check(CLI::Range(1, 8))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const cpu_executor cpu{o.threads};
  const execution_context<cpu_executor> context(cpu);
  const cpu_executor executor = context.executor();
  stage_table stages;
  const auto map = io::label_map::read(o.label_map);
  std::string frame_id = o.frame.filename().string();
  frame_id = frame_id.substr(frame_id.find_last_not_of("0123456789") + 1);
  if (frame_id.empty()) frame_id = "frame";
  std::printf("voxformer-cpp: VoxFormer-%s on %s, %d thread(s)\n", o.variant.c_str(), o.frame.string().c_str(),
              o.threads);
  if (o.weights.empty())
    std::printf("!! RANDOM weights (seed %llu): the labels and scores below mean nothing; pass --weights\n",
                static_cast<unsigned long long>(o.seed));

  // 1. The frame, and the points stage 1 sees.
  const frame_data f = stages.time("read frame", [&] { return read_frame(o.frame); });
  index_t kept = 0;
  const std::vector<float> points = stages.time(o.via_depth ? "depth map, pseudo-LiDAR" : "scan points",
                                                [&] { return stage1_points(executor, f, o.via_depth, kept); });
  std::printf("1. %lld scan points%s → %lld points\n", static_cast<long long>(f.points()),
              o.via_depth ? " → a sparse depth map in camera 2 (370×1220) → pseudo-LiDAR" : "",
              static_cast<long long>(kept));

  // 2. Occupancy [256, 256, 32] in VoxFormer's convention (spec §2.3).
  const auto fine = volume_geometry::voxformer_fine();
  const index_t n_points = static_cast<index_t>(points.size() / 4);
  std::vector<std::uint8_t> occupancy(static_cast<std::size_t>(fine.voxel_count()));
  stages.time("voxelise", [&] {
    voxelize(executor, make_view<2>(points.data(), {n_points, 4}), fine,
             make_view<3>(occupancy.data(), {256, 256, 32}));
  });
  index_t occupied = 0;
  for (const auto v : occupancy) occupied += v;
  std::printf("2. occupancy 256x256x32: %lld voxels occupied\n", static_cast<long long>(occupied));

  // 3. Query proposals [128, 128, 16].
  std::vector<std::uint8_t> proposal(128 * 128 * 16);
  const auto occupancy_view = make_view<3>(static_cast<const std::uint8_t*>(occupancy.data()), {256, 256, 32});
  const auto proposal_view = make_view<3>(proposal.data(), {128, 128, 16});
  if (!o.qpn_weights.empty()) {
    const qpn_config qpn;
    const auto qpn_store = stages.time("load QPN weights", [&] {
      return qpn_parameter_store<float>::from_file(qpn, io::safetensors_file::open(o.qpn_weights));
    });
    proposal_pipeline<cpu_executor, float> network(executor, qpn, qpn_store.parameters());
    std::printf("3. query proposal network (%s):", o.qpn_weights.c_str());
    network.observe([](std::string_view stage, tensor_view<const float, 4>) {
      std::printf(" %.*s", static_cast<int>(stage.size()), stage.data());
      std::fflush(stdout);
    });
    stages.add_parts(stages.time("query proposal network", [&] { return network.run(occupancy_view, proposal_view); }));
  } else {
    std::printf("3. no --qpn-weights: the proposal is the occupancy downsampled (any occupied child → proposed)");
    stages.time("proposal (downsampled input)", [&] { downsample_occupancy(executor, occupancy_view, proposal_view); });
  }
  index_t proposed = 0;
  for (const auto v : proposal) proposed += v;
  std::printf("\n   %lld of the 128x128x16 = 262144 query voxels proposed (%.2f %%)\n",
              static_cast<long long>(proposed), 100.0 * double(proposed) / 262144.0);

  // 4. The cameras' images → image features → stage 2 + head → labels [256, 256, 32], as one object.
  voxformer_model_config config = voxformer_model_config::preset(o.variant, false);  // stage 1 ran above
  const auto [crop_h, crop_w] = config.image.crop;
  const index_t cameras = config.head.cameras;
  const bool numbered = std::all_of(frame_id.begin(), frame_id.end(), [](char c) { return c >= '0' && c <= '9'; });
  const auto lidar2img = camera_matrices(config, o.frame, f.calibration, numbered ? std::stoll(frame_id) : 0);
  std::vector<std::uint8_t> images;
  index_t image_h = crop_h, image_w = crop_w;
  if (!o.images.empty()) {
    detail::require(static_cast<index_t>(o.images.size()) == cameras, "--images: VoxFormer-", o.variant, " has ",
                    cameras, " camera(s), ", o.images.size(), " image(s) given");
    const auto extent = tools::read_camera_images(o.images, images);
    image_h = extent[0], image_w = extent[1];
    std::printf("4. camera images from %s%s\n", o.images.front().c_str(), cameras > 1 ? ", …" : "");
  } else {
    for (const auto& m : lidar2img) {
      const auto view = render_scan_view(f, map, m, crop_h, crop_w);
      images.insert(images.end(), view.begin(), view.end());
    }
    std::printf("4. RENDERED camera images (the scan as each camera sees it: the frame has no camera image; pass "
                "--images)\n");
  }
  if (cameras > 1)
    std::printf("   the past cameras are frames t-12, t-9, t-6, t-3 of the sequence, placed by its poses\n");
  std::vector<float> matrices;
  for (const auto& m : lidar2img) {
    const auto projection = io::to_mat4f(m);
    matrices.insert(matrices.end(), projection.m, projection.m + 16);
  }
  const auto weights = stages.time("load weights", [&] {
    if (o.weights.empty())
      return std::pair{image_backbone_store<float>::random(config.image, o.seed),
                       parameter_store<float>::random(config.head, o.seed)};
    return std::pair{image_backbone_store<float>::from_file(config.image, io::safetensors_file::open(o.weights)),
                     parameter_store<float>::from_file(config.head, io::safetensors_file::open(o.weights))};
  });
  std::vector<std::uint8_t> prediction(static_cast<std::size_t>(config.head.output_voxels()));
  {
    // Memory sized for this frame's proposal (0 would size it for every voxel).
    voxformer_model_options options;
    options.head.max_proposals = std::max<index_t>(proposed, 1);
    voxformer_model<cpu_executor, float> model(
        executor, config, {weights.first.parameters(), weights.second.parameters()}, options);
    std::printf("   image path, stage 2 + head:");
    model.head().observe([](std::string_view stage, tensor_view<const float, 2>) {
      std::printf(" %.*s", static_cast<int>(stage.size()), stage.data());
      std::fflush(stdout);
    });
    const auto& report = stages.time("images → labels", [&] {
      return model.run(make_view<4>(static_cast<const std::uint8_t*>(images.data()), {cameras, image_h, image_w, 3}),
                       make_view<3>(static_cast<const float*>(matrices.data()), {cameras, 4, 4}),
                       make_view<3>(static_cast<const std::uint8_t*>(proposal.data()), {128, 128, 16}),
                       make_view<3>(prediction.data(), {256, 256, 32}));
    });
    stages.add_parts(report);
    std::printf(" head\n   %lld queries; visible in camera 0: %lld; seen by no camera: %lld\n",
                static_cast<long long>(report.proposals), static_cast<long long>(report.visible_per_camera[0]),
                static_cast<long long>(report.seen_by_no_camera));
  }

  // 6. A ground truth from the frame's own labelled scan (an approximation of SemanticKITTI's, which accumulates
  // many scans): each voxel the majority class of its points, unlabelled/outlier points voting "ignore", the
  // frame's invalid mask ignored too; and the prediction's scores against it. Made before the outputs, as the
  // picture shows it, and printed after them.
  std::vector<std::uint8_t> ground_truth;
  std::optional<ssc_metrics> metrics;
  if (!f.labels.empty()) {
    ground_truth.resize(prediction.size());
    std::vector<std::uint8_t> point_classes(f.labels.size());
    for (std::size_t i = 0; i < f.labels.size(); ++i) {
      const std::uint8_t c = map.to_class(f.labels[i]);
      point_classes[i] = c == 0 ? io::label_map::ignore : c;
    }
    stages.time("ground truth + scores", [&] {
      voxelize_semantic(executor, make_view<2>(f.scan.data(), {f.points(), 4}),
                        make_view<1>(static_cast<const std::uint8_t*>(point_classes.data()), {f.points()}), fine,
                        make_view<3>(ground_truth.data(), {256, 256, 32}), map.classes());
      if (!f.invalid.empty()) {
        const auto invalid = invalid_in_voxformer_convention(f.invalid);
        for (std::size_t v = 0; v < ground_truth.size(); ++v)
          if (invalid[v] != 0) ground_truth[v] = io::label_map::ignore;
      }
      metrics.emplace(map.classes());
      metrics->add(make_view<3>(static_cast<const std::uint8_t*>(prediction.data()), {256, 256, 32}),
                   make_view<3>(static_cast<const std::uint8_t*>(ground_truth.data()), {256, 256, 32}));
    });
  }

  // 5. The outputs — the submission file, the point set, the picture — into a staging folder, moved into --out once
  // all three were written: a failed run leaves --out as it was.
  tools::staged_output outputs(o.out);
  const std::string label_name = frame_id + ".label", png_name = frame_id + "_bev.png", ply_name = frame_id + ".ply";
  stages.time("write .label, .ply", [&] {
    std::vector<std::uint16_t> raw(prediction.size());
    map.to_raw(prediction, raw);
    outputs.write(label_name, [&](const fs::path& path) { io::write_label_volume(path, raw, {256, 256, 32}); });
    outputs.write(ply_name, [&](const fs::path& path) { write_point_set(path, prediction, map); });
  });
  const auto [width, height] = stages.time("write .png", [&] {
    std::array<index_t, 2> size{};
    outputs.write(png_name, [&](const fs::path& path) {
      size = write_picture(executor, path, o.scale, map, occupancy, proposal, prediction, ground_truth);
    });
    return size;
  });
  outputs.commit();
  const fs::path label_path = o.out / label_name, png_path = o.out / png_name, ply_path = o.out / ply_name;

  std::printf("5. wrote %s (SemanticKITTI submission layout: uint16 raw ids, [x][y][z])\n", label_path.c_str());
  std::printf("   wrote %s (%lldx%lld, from above, car at the bottom: input occupancy | proposals | prediction%s)\n",
              png_path.c_str(), static_cast<long long>(width), static_cast<long long>(height),
              ground_truth.empty() ? "" : " | single-scan ground truth");
  std::printf("   wrote %s (occupied predicted voxels, coloured by class)\n", ply_path.c_str());
  stages.print();
  if (metrics) {
    std::printf("\n6. scores against the single-scan ground truth (an approximation of SemanticKITTI's)%s:",
                o.weights.empty() ? " — RANDOM weights, so meaningless" : "");
    print_scores(*metrics, map);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "semantic_scene_completion: %s\n", e.what());
  return 2;
}
