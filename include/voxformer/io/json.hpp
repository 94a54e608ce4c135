//! @file What the JSON readers (the safetensors header, a model configuration) share on top of nlohmann-json: a
//! strict parse — no key twice in one object, no nesting deeper than the format has — and short excerpts of values
//! for their messages.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "voxformer/core/error.hpp"

namespace voxformer::io::detail {

//! `j` as compact JSON, cut to 64 characters: enough to recognise a value in a message.
inline std::string json_excerpt(const nlohmann::json& j) {
  std::string text = j.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return text;
}

//! A parse callback, `nlohmann::json::parse(first, last, strict_json_guard(…))`, that fails while the text is parsed
//! on a key seen twice in one object (nlohmann's DOM keeps one of them silently) and on a container `max_depth`
//! levels deep or deeper (the DOM's copies, comparisons and dumps recurse, and a hostile file's 10⁵ nested arrays
//! would overflow the stack). Messages read `<where>: <context>: duplicate key 'k'`, where `context(keys)` names
//! the place from the keys of the objects leading to it (none at the root) and may be empty.
class strict_json_guard {
 public:
  using context_of = std::function<std::string(const std::vector<std::string>& keys)>;

  //! `document` completes "JSON nested deeper than … allows" ("a safetensors header").
  strict_json_guard(std::string where, int max_depth, std::string document, context_of context)
      : where_(std::move(where)), document_(std::move(document)), context_(std::move(context)),
        max_depth_(max_depth) {}

  bool operator()(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using event_t = nlohmann::json::parse_event_t;
    switch (event) {
      case event_t::object_start:
      case event_t::array_start:
        if (depth >= max_depth_)
          fail("JSON nested deeper than " + document_ + " allows (" +
               (event == event_t::object_start ? "an object" : "an array") + " at depth " + std::to_string(depth) +
               ")");
        containers_.emplace_back();
        break;
      case event_t::object_end:
      case event_t::array_end: containers_.pop_back(); break;
      case event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        containers_.back().key.reset();  // a message about this key names the object's place, not the key's
        if (!containers_.back().keys.insert(key).second) fail("duplicate key '" + key + "'");
        containers_.back().key = key;
        break;
      }
      case event_t::value: break;
    }
    return true;
  }

 private:
  struct container {
    std::set<std::string> keys;       // an object's keys so far (an array has none)
    std::optional<std::string> key;  // the key whose value is being parsed
  };

  [[noreturn]] void fail(const std::string& what) const {
    std::vector<std::string> keys;
    for (const auto& c : containers_)
      if (c.key) keys.push_back(*c.key);
    const std::string context = context_(keys);
    voxformer::detail::fail(where_, ": ", context, context.empty() ? "" : ": ", what);
  }

  std::string where_, document_;
  context_of context_;
  int max_depth_;
  std::vector<container> containers_;
};

}  // namespace voxformer::io::detail
