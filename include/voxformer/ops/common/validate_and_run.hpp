//! @file An op called as layers and pipelines call one: its arguments validated (shapes, memory spaces, aliasing —
//! an error naming the op and argument, and nothing written), then run, with the scratch the op takes if it takes one.
#pragma once

#include <utility>

namespace voxformer {

//! `validate` and `run` are found by argument-dependent lookup on the op's argument struct, as its callers find them.
template <class Executor, class Args, class... Scratch>
void validate_and_run(const Executor& executor, const Args& args, Scratch&&... scratch) {
  validate(executor, args);
  run(executor, args, std::forward<Scratch>(scratch)...);
}

}  // namespace voxformer
