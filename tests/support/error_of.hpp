//! @file The message of the `voxformer::error` a call throws, for tests of error messages.
#pragma once

#include <gtest/gtest.h>

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

//! EXPECT that `text` (a string) contains `part`, printing both when it does not.
#define EXPECT_CONTAINS(text, part)                                                                              \
  do {                                                                                                           \
    const std::string text_ = (text);                                                                            \
    EXPECT_NE(text_.find(part), std::string::npos) << "expected to contain: " << (part) << "\n  got: " << text_; \
  } while (0)
