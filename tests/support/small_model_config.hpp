//! @file A stage-2 configuration small enough to build parameters for in microseconds (tests of parameter layout,
//! binding and upload, not of the numbers).
#pragma once

#include "voxformer/model/config.hpp"

namespace test {

inline voxformer::model_config small_model_config() {
  voxformer::model_config c;
  c.variant = "test";
  c.volume = {4, 2, 2};
  c.view_shape = {4, 4};
  c.embed_dims = 8;
  c.heads = 2;
  c.points_cross = 2;
  c.points_self = 2;
  c.layers_cross = 1;
  c.layers_self = 1;
  c.ffn_hidden = 16;
  c.cameras = 2;
  c.classes = 3;
  c.feature_shapes = {{2, 3}};
  return c;
}

}  // namespace test
