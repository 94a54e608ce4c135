//! @file The message of the `voxformer::error` a call throws, for tests of error messages.
#pragma once

#include <string>

#include "voxformer/core/error.hpp"

namespace test {

//! What `f()` throws as a voxformer::error, or "no error" when it returns (other exceptions propagate).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const voxformer::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace test
