// Kernel error sites: the small piece of runtime that kernels see (variants: kernel_variants.cc).
//
// The registry behind KernelErrorRecord: sites are registered during static initialisation and
// only read afterwards, so lookups need no lock beyond the one that guards registration.
#include <mutex>
#include <string>
#include <vector>

#include "../abi/error.h"
#include "../abi/kernel_api.h"

namespace llmrec {
namespace {

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<std::string>& registry() {
  static std::vector<std::string> templates{""};  // site 0 means "no error"
  return templates;
}

void replace_all(std::string& text, const std::string& key, const std::string& value) {
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
}

}  // namespace

int register_kernel_error_site(const char* message_template) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().emplace_back(message_template);
  return int(registry().size() - 1);
}

std::string format_kernel_error(int site, long long value, long long limit) {
  std::string message;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    if (site <= 0 || size_t(site) >= registry().size())
      return "a kernel reported an unknown error (site " + std::to_string(site) + ")";
    message = registry()[size_t(site)];
  }
  replace_all(message, "{value}", std::to_string(value));
  replace_all(message, "{limit}", std::to_string(limit));
  return message;
}

void throw_kernel_error(int site, long long value, long long limit) {
  throw Error(format_kernel_error(site, value, limit));
}

}  // namespace llmrec
