// The variant table: every kernel family with more than one CUDA implementation lists its
// variants here, reference first. Adding a variant is its kernel and launcher branch in
// cuda/<family>.cu plus its name here; the GPU suite and `npm run bench -- --variants` find it.
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "../abi/error.h"
#include "../abi/kernel_api.h"

namespace llmrec {

const std::vector<KernelVariantFamily>& kernel_variant_table() {
  static const std::vector<KernelVariantFamily> table{
      {"attention",
       {"reference", "fast", "packed"},
       "packed when queries and keys both number at most 64, fast above"},
      {"gemm",
       {"reference", "simt", "tensor", "tensor_unaligned"},
       "bf16 on tensor cores: tensor where rows are 16-byte aligned, tensor_unaligned otherwise; simt for "
       "f32"},
      {"embedding", {"reference", "vector"}, "16-byte vector loads where rows are aligned"},
      {"gather_dot", {"reference", "segment"}, "segment: the table gradient by one warp per touched item"},
      {"linear_ce",
       {"reference", "tensor"},
       "tensor cores for bf16 hidden and weight, the f32 tiles for f32"},
      {"infonce", {"reference", "grid"}, "grid: a block-tree loss and a sorted key-gradient scatter"},
      {"topk", {"reference", "split"}, "split rows into slices when the rows alone would leave SMs idle"},
  };
  return table;
}

namespace {

const KernelVariantFamily& family_entry(const std::string& family) {
  for (const KernelVariantFamily& entry : kernel_variant_table())
    if (family == entry.family) return entry;
  std::string list;
  for (const KernelVariantFamily& entry : kernel_variant_table())
    list += (list.empty() ? "" : ", ") + std::string(entry.family);
  fail("kernel variants: unknown family '", family, "' (families with variants: ", list, ")");
}

std::string check_variant(const KernelVariantFamily& entry, const std::string& name, const char* from) {
  if (name.empty()) return name;
  std::string list;
  for (const char* variant : entry.variants) {
    if (name == variant) return name;
    list += (list.empty() ? "" : ", ") + std::string(variant);
  }
  fail(entry.family, ": unknown kernel variant '", name, "'", from, " (", list, ")");
}

std::mutex& selection_mutex() {
  static std::mutex mutex;
  return mutex;
}

// family -> selected name; a family is absent until its environment variable has been read.
std::map<std::string, std::string>& selections() {
  static std::map<std::string, std::string> selected;
  return selected;
}

}  // namespace

std::string kernel_variant(const char* family) {
  std::lock_guard<std::mutex> lock(selection_mutex());
  auto found = selections().find(family);
  if (found != selections().end()) return found->second;
  const KernelVariantFamily& entry = family_entry(family);
  std::string variable = "LLMREC_KERNEL_";
  for (const char* c = family; *c != '\0'; ++c)
    variable += char(std::toupper(static_cast<unsigned char>(*c)));
  const char* value = std::getenv(variable.c_str());
  const std::string name = check_variant(entry, value == nullptr ? "" : value, (" in " + variable).c_str());
  selections()[family] = name;
  return name;
}

void set_kernel_variant(const std::string& family, const std::string& name) {
  const KernelVariantFamily& entry = family_entry(family);
  const std::string checked = check_variant(entry, name, "");
  std::lock_guard<std::mutex> lock(selection_mutex());
  selections()[family] = checked;
}

}  // namespace llmrec
