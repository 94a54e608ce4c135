// Every pipeline — stage 1, stage 2 + head, the image backbone and the whole model — instantiates with the CUDA
// executor and compiles for sm_90, frame calls included (on views of device memory). Compiled in CI, never run:
// the frames still read their counts on the host (README, "On a GPU"), which the device contract will remove.
#include <cstdint>

#include "voxformer/backend/cuda/cuda_backend.hpp"
#include "voxformer/pipeline/image_pipeline.hpp"
#include "voxformer/pipeline/pipeline.hpp"
#include "voxformer/pipeline/proposal_pipeline.hpp"
#include "voxformer/pipeline/voxformer_model.hpp"

template class voxformer::proposal_pipeline<voxformer::cuda_executor, float>;
template class voxformer::pipeline<voxformer::cuda_executor, float>;
template class voxformer::image_pipeline<voxformer::cuda_executor, float>;
template class voxformer::voxformer_model<voxformer::cuda_executor, float>;

namespace voxformer::compile_checks {

using cuda_stage1 = proposal_pipeline<cuda_executor, float>;
using cuda_stage2 = pipeline<cuda_executor, float>;
using cuda_images = image_pipeline<cuda_executor, float>;
using cuda_model = voxformer_model<cuda_executor, float>;

void frames(cuda_stage1& stage1, cuda_stage2& stage2, cuda_images& images, cuda_model& model,
            tensor_view<const std::uint8_t, 3> occupancy, tensor_view<std::uint8_t, 3> proposal,
            tensor_view<const float, 5> features, tensor_view<const float, 3> lidar2img,
            tensor_view<std::uint8_t, 3> labels, tensor_view<float, 4> logits, tensor_view<const std::uint8_t, 4> rgb,
            tensor_view<float, 4> image_features) {
  stage1.run(occupancy, proposal);
  stage2.run(features, lidar2img, tensor_view<const std::uint8_t, 3>(proposal), labels, logits);
  images.run(rgb, image_features);
  model.run(rgb, lidar2img, occupancy, labels, logits);
}

}  // namespace voxformer::compile_checks
