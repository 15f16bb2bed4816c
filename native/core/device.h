// Where a tensor lives: the CPU, or one CUDA device by index.
#pragma once

#include <string>

namespace llmrec {

enum class DeviceType : int { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& other) const {
    return type == other.type && (type == DeviceType::CPU || index == other.index);
  }
  bool operator!=(const Device& other) const { return !(*this == other); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

  static Device cpu() { return Device{DeviceType::CPU, 0}; }
  static Device cuda(int index) { return Device{DeviceType::CUDA, index}; }
};

// Accepts "cpu", "cuda" (device 0) and "cuda:N"; throws llmrec::Error otherwise.
Device parse_device(const std::string& spec);

}  // namespace llmrec
