#include "tensor.h"

#include <sstream>

namespace llmrec {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

Device parse_device(const std::string& spec) {
  if (spec == "cpu") return Device::cpu();
  if (spec == "cuda") return Device::cuda(0);
  if (spec.rfind("cuda:", 0) == 0 && spec.size() > 5 && spec.size() <= 8) {
    int index = 0;
    for (size_t i = 5; i < spec.size(); ++i) {
      if (spec[i] < '0' || spec[i] > '9') fail("unknown device '", spec, "': use 'cpu', 'cuda' or 'cuda:N'");
      index = index * 10 + (spec[i] - '0');
    }
    return Device::cuda(index);
  }
  fail("unknown device '", spec, "': use 'cpu', 'cuda' or 'cuda:N'");
}

int64_t checked_numel(const Shape& shape, const char* op) {
  int64_t numel = 1;
  for (int64_t extent : shape) {
    if (extent < 0) fail(op, ": shape ", shape_str(shape), " has a negative dimension");
    if (extent != 0 && numel > kMaxElements / extent)
      fail(op, ": shape ", shape_str(shape), " has more than 2^53 elements and would overflow memory");
    numel *= extent;
  }
  return numel;
}

Tensor reshape_view(const Tensor& tensor, const Shape& shape, const char* op) {
  int64_t numel = checked_numel(shape, op);
  if (numel != tensor.numel)
    fail(op, ": cannot reshape a tensor of shape ", shape_str(tensor.shape), " (", tensor.numel,
         " elements) to ", shape_str(shape), " (", numel, " elements)");
  Tensor view = tensor;
  view.shape = shape;
  return view;
}

}  // namespace llmrec
