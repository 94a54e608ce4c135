//! @file Umbrella header: the whole library. The DLPack adapter is included when <dlpack/dlpack.h> is
//! available, the safetensors reader and the weights loader when <nlohmann/json.hpp> is, the label map when
//! <yaml-cpp/yaml.h> is; the CUDA backend when compiled by nvcc. Not `io/png.hpp`, which needs libpng linked.
#pragma once

#include "voxformer/adapters/eigen.hpp"
#include "voxformer/backend/cpu/cpu_executor.hpp"
#include "voxformer/core/algorithms.hpp"
#include "voxformer/core/config.hpp"
#include "voxformer/core/dtype.hpp"
#include "voxformer/core/error.hpp"
#include "voxformer/core/execution_context.hpp"
#include "voxformer/core/executor_hints.hpp"
#include "voxformer/core/lanes.hpp"
#include "voxformer/core/mat4.hpp"
#include "voxformer/core/memory_space.hpp"
#include "voxformer/core/shape_check.hpp"
#include "voxformer/core/tensor_traits.hpp"
#include "voxformer/core/tensor_view.hpp"
#include "voxformer/core/workspace.hpp"
#include "voxformer/io/binary_file.hpp"
#include "voxformer/io/kitti.hpp"
#include "voxformer/io/label_volume.hpp"
#include "voxformer/io/npy.hpp"
#include "voxformer/io/ply.hpp"
#include "voxformer/io/voxel_grid.hpp"
#include "voxformer/metrics/ssc_metrics.hpp"
#include "voxformer/model/config.hpp"
#include "voxformer/model/cross_attention.hpp"
#include "voxformer/model/head.hpp"
#include "voxformer/model/image_values.hpp"
#include "voxformer/model/parameters.hpp"
#include "voxformer/model/qpn_config.hpp"
#include "voxformer/model/qpn_parameters.hpp"
#include "voxformer/model/query_proposal_network.hpp"
#include "voxformer/model/self_attention.hpp"
#include "voxformer/nn/conv_transpose.hpp"
#include "voxformer/nn/convolution.hpp"
#include "voxformer/nn/ffn.hpp"
#include "voxformer/nn/layer_norm.hpp"
#include "voxformer/nn/linear.hpp"
#include "voxformer/nn/max_pool.hpp"
#include "voxformer/nn/softmax.hpp"
#include "voxformer/ops/common/compaction.hpp"
#include "voxformer/ops/common/copy.hpp"
#include "voxformer/ops/common/fill.hpp"
#include "voxformer/ops/msda/ms_deform_attn.hpp"
#include "voxformer/ops/msda/ms_deform_attn_3d.hpp"
#include "voxformer/ops/msda/msda_kernel.hpp"
#include "voxformer/ops/msda/msda_policy.hpp"
#include "voxformer/ops/rebatch/camera_batches.hpp"
#include "voxformer/ops/rebatch/camera_gather_scatter.hpp"
#include "voxformer/ops/rebatch/camera_projection.hpp"
#include "voxformer/ops/scatter/gather_rows.hpp"
#include "voxformer/ops/scatter/mask_token_scatter.hpp"
#include "voxformer/ops/voxel/bit_pack.hpp"
#include "voxformer/ops/voxel/depth_map.hpp"
#include "voxformer/ops/voxel/downsample.hpp"
#include "voxformer/ops/voxel/proposal.hpp"
#include "voxformer/ops/voxel/pseudo_lidar.hpp"
#include "voxformer/ops/voxel/volume_geometry.hpp"
#include "voxformer/ops/voxel/voxelize.hpp"
#include "voxformer/ops/voxel/voxelize_semantic.hpp"
#include "voxformer/pipeline/pipeline.hpp"
#include "voxformer/pipeline/proposal_pipeline.hpp"
#include "voxformer/pipeline/stage_report.hpp"
#include "voxformer/viz/bird_eye_view.hpp"

#if __has_include(<dlpack/dlpack.h>)
#include "voxformer/adapters/dlpack.hpp"
#endif

#if __has_include(<nlohmann/json.hpp>)
#include "voxformer/io/safetensors.hpp"
#include "voxformer/model/config_json.hpp"
#include "voxformer/model/parameter_store.hpp"
#endif

#if __has_include(<yaml-cpp/yaml.h>)
#include "voxformer/io/label_map.hpp"
#endif

#if defined(__CUDACC__)
#include "voxformer/backend/cuda/cuda_executor.hpp"
#endif
