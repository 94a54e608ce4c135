// voxformer.SSCMetrics: SemanticKITTI's completion and semantic scores accumulated over a dataset.
#include <nanobind/stl/vector.h>

#include <array>
#include <cstdint>
#include <voxformer/metrics/ssc_metrics.hpp>

#include "arrays.hpp"
#include "bindings.hpp"

namespace voxformer::python {

void bind_metrics(nb::module_& m) {
  nb::class_<ssc_metrics>(m, "SSCMetrics",
                          "VoxFormer's SSCMetrics: one confusion matrix summed over every frame added (dataset-level "
                          "scores, not per-frame means). range: 51.2, 25.6 or 12.8 metres (the original's crops).")
      .def(
          "__init__",
          [](ssc_metrics* self, index_t classes, double range) {
            new (self) ssc_metrics(classes, eval_range_from_metres(range));
          },
          nb::arg("classes") = 20, nb::arg("range") = 51.2)
      .def(
          "add",
          // With the GIL held: a few milliseconds a frame, and two threads adding to one accumulator stay safe.
          [](ssc_metrics& self, const input_array& prediction, const input_array& ground_truth) {
            self.add(prediction, ground_truth);
          },
          nb::arg("prediction"), nb::arg("ground_truth"),
          "Counts one frame: uint8 [X, Y, Z] classes; ground truth 255 is not evaluated. On an error nothing is "
          "counted.")
      .def("merge", &ssc_metrics::merge, nb::arg("other"), "Adds another accumulator's frames (same classes, range).")
      .def_prop_ro("classes", &ssc_metrics::classes)
      .def_prop_ro("range", [](const ssc_metrics& s) { return to_metres(s.range()); })
      .def_prop_ro("frames", &ssc_metrics::frames)
      .def_prop_ro("voxels", &ssc_metrics::voxels, "voxels evaluated")
      .def_prop_ro("precision", &ssc_metrics::precision, "completion precision (occupied = class > 0)")
      .def_prop_ro("recall", &ssc_metrics::recall)
      .def_prop_ro("iou", &ssc_metrics::iou, "completion IoU")
      .def_prop_ro("miou", &ssc_metrics::miou, "mean IoU over classes 1..classes-1")
      .def_prop_ro("class_ious", &ssc_metrics::class_ious, "IoU of every class, class 0 (empty) first")
      .def_prop_ro(
          "confusion",
          [](const ssc_metrics& s) {
            result_array<std::int64_t, 2> table(std::array<index_t, 2>{s.classes(), s.classes()});
            auto t = table.view();
            for (index_t truth = 0; truth < s.classes(); ++truth)
              for (index_t predicted = 0; predicted < s.classes(); ++predicted)
                t(truth, predicted) = s.confusion(truth, predicted);
            return table.release();
          },
          nb::rv_policy::move, "int64 [classes, classes], [ground truth, prediction]");
}

}  // namespace voxformer::python
