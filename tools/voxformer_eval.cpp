// voxformer_eval: semantic scene completion scores of a folder of predictions against SemanticKITTI ground truth,
// as VoxFormer's SSCMetrics computes them (spec §5.3–§5.4), over the files SemanticKITTI's evaluate_completion reads.
//
//   voxformer_eval PRED_DIR GT_DIR [--range 51.2|25.6|12.8] [--json] [--label-map FILE] [--threads N]
//
// Every `<frame>.label` in GT_DIR (raw ids, uint16, 256×256×32) is ground truth, with `<frame>.invalid` (bit-packed)
// when present; `PRED_DIR/<frame>.label` is its prediction (raw ids, the submission format). Ground truth becomes
// classes by spec §2.4's rule, predictions by the learning map; the scores are sums over all frames.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>
#include <voxformer/io/label_map.hpp>
#include <voxformer/io/label_volume.hpp>
#include <voxformer/io/voxel_grid.hpp>
#include <voxformer/metrics/ssc_metrics.hpp>

namespace {

using namespace voxformer;
namespace fs = std::filesystem;

const std::vector<std::int64_t> grid = {256, 256, 32};  // SemanticKITTI's SSC volume

struct frame_files {
  fs::path truth, invalid, prediction;  // invalid is empty when GT_DIR has none
};

//! GT_DIR's `.label` files in name order, each with its prediction, which must exist.
std::vector<frame_files> list_frames(const fs::path& predictions, const fs::path& truths) {
  std::vector<frame_files> frames;
  for (const auto& entry : fs::directory_iterator(truths))
    if (entry.is_regular_file() && entry.path().extension() == ".label") {
      auto invalid = fs::path(entry.path()).replace_extension(".invalid");
      frames.push_back(
          {entry.path(), fs::exists(invalid) ? invalid : fs::path(), predictions / entry.path().filename()});
    }
  detail::require(!frames.empty(), "ground-truth folder '", truths.string(), "' holds no .label files");
  std::sort(frames.begin(), frames.end(), [](const auto& a, const auto& b) { return a.truth < b.truth; });
  // Like evaluate_completion: every prediction is checked before anything is scored.
  std::size_t missing = 0;
  const frame_files* first = nullptr;
  for (const auto& f : frames)
    if (!fs::exists(f.prediction) && missing++ == 0) first = &f;
  detail::require(missing == 0, "no prediction '", first ? first->prediction.string() : "", "' for ground truth '",
                  first ? first->truth.string() : "", "'",
                  missing > 1 ? " (" + std::to_string(missing) + " predictions missing)" : std::string());
  return frames;
}

//! Scores frames [0, n) on `threads` threads, each into its own accumulator (sums of integers: the result does not
//! depend on the split). The first frame, in order, that fails is the error reported.
ssc_metrics score(const std::vector<frame_files>& frames, const io::label_map& map, eval_range range, int threads) {
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex errors_mutex;
  std::vector<std::pair<std::size_t, std::string>> errors;
  std::vector<ssc_metrics> partial(static_cast<std::size_t>(threads), ssc_metrics(map.classes(), range));
  auto work = [&](ssc_metrics& metrics) {
    std::vector<std::uint8_t> prediction(256 * 256 * 32), truth(prediction.size());
    while (!failed) {
      const std::size_t i = next++;
      if (i >= frames.size()) break;
      try {
        const auto& f = frames[i];
        map.ground_truth_classes(
            io::read_label_volume(f.truth, grid),
            f.invalid.empty() ? std::vector<std::uint8_t>() : io::read_packed_grid(f.invalid, grid), truth);
        map.to_classes(io::read_label_volume(f.prediction, grid), prediction);
        metrics.add(make_view<3>(prediction.data(), {grid[0], grid[1], grid[2]}),
                    make_view<3>(truth.data(), {grid[0], grid[1], grid[2]}));
      } catch (const std::exception& e) {
        const std::lock_guard lock(errors_mutex);
        errors.emplace_back(i, e.what());
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> workers;
    for (std::size_t t = 1; t < partial.size(); ++t) workers.emplace_back(work, std::ref(partial[t]));
    work(partial[0]);
  }
  if (!errors.empty()) throw error(std::min_element(errors.begin(), errors.end())->second);
  for (std::size_t t = 1; t < partial.size(); ++t) partial[0].merge(partial[t]);
  return partial[0];
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{
      "Semantic scene completion scores (VoxFormer's SSCMetrics: completion precision, recall, IoU; per-class "
      "IoU and mIoU, summed over all frames) of predictions against SemanticKITTI ground truth."};
  std::string predictions, truths, range_text = "51.2", label_map_path = VOXFORMER_DEFAULT_LABEL_MAP;
  bool json = false;
  int threads = 1;
  app.add_option("PRED_DIR", predictions, "predictions: <frame>.label, raw ids (uint16, 256x256x32)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("GT_DIR", truths, "ground truth: <frame>.label raw ids, and <frame>.invalid (bit-packed) when present")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--range", range_text, "evaluation range in metres")
      ->check(CLI::IsMember({"51.2", "25.6", "12.8"}))
      ->capture_default_str();
  app.add_flag("--json", json, "print one JSON object instead of the table");
  app.add_option("--label-map", label_map_path, "the dataset's label configuration (yaml)")
      ->check(CLI::ExistingFile)
      ->capture_default_str();
  app.add_option("--threads", threads, "frames scored at once")->check(CLI::Range(1, 1024))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto map = io::label_map::read(label_map_path);
  const auto range = eval_range_from_metres(std::stod(range_text));
  const auto metrics = score(list_frames(predictions, truths), map, range, threads);

  if (json) {
    nlohmann::json j;
    j["frames"] = metrics.frames();
    j["range"] = to_metres(range);
    j["voxels"] = metrics.voxels();
    j["precision"] = metrics.precision();
    j["recall"] = metrics.recall();
    j["iou"] = metrics.iou();
    j["miou"] = metrics.miou();
    j["class_iou"] = metrics.class_ious();
    const auto completion = metrics.completion();
    j["completion"] = {{"tp", completion.tp}, {"fp", completion.fp}, {"fn", completion.fn}};
    for (index_t c = 0; c < metrics.classes(); ++c) {
      const auto s = metrics.semantic(c);
      j["class_names"].push_back(map.class_name(c));
      j["class_tp"].push_back(s.tp);
      j["class_fp"].push_back(s.fp);
      j["class_fn"].push_back(s.fn);
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("voxformer_eval: %lld frame(s), range %.1f m, %lld voxels evaluated\n",
              static_cast<long long>(metrics.frames()), to_metres(range), static_cast<long long>(metrics.voxels()));
  std::printf("  %5s  %-16s %8s\n", "class", "name", "IoU %");
  for (index_t c = 0; c < metrics.classes(); ++c)
    std::printf("  %5lld  %-16s %8.2f\n", static_cast<long long>(c), map.class_name(c).c_str(),
                100 * metrics.class_iou(c));
  std::printf("  precision %.2f %%, recall %.2f %%, IoU %.2f %%, mIoU %.2f %%\n", 100 * metrics.precision(),
              100 * metrics.recall(), 100 * metrics.iou(), 100 * metrics.miou());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "voxformer_eval: %s\n", e.what());
  return 2;
}
