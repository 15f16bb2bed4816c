// One exception type for every failure the library reports. The N-API glue turns it into a JS
// Error, so messages are written for the person who called the op: what failed, which
// argument, which shapes, and what to do about it.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace llmrec {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

std::string shape_str(const std::vector<int64_t>& shape);

namespace detail {
inline void append(std::ostringstream&) {}
template <class First, class... Rest>
void append(std::ostringstream& out, const First& first, const Rest&... rest) {
  out << first;
  append(out, rest...);
}
}  // namespace detail

// fail("embedding: index ", i, " is out of range for a table of ", rows, " rows")
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  detail::append(out, parts...);
  throw Error(out.str());
}

}  // namespace llmrec
