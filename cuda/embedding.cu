// CUDA twin of native/cpu/embedding.cc.
//
// Forward: a group of `lanes` threads (a warp for wide rows, a fraction of one for narrow rows)
// copies one row with 16-byte loads when the width and the pointers allow it. An out-of-range
// index is reported and its row is zero-filled without reading the table.
//
// Backward: keys (the index, or `rows` for padding so that it sorts last) are radix-sorted with
// their flat positions by CUB; the sort is stable, so each row's segment is in position order.
// The table gradient is zeroed, then the lane group that meets the first entry of a row's segment
// sums the segment in that order: deterministic, with no float atomics. The position gradient is a
// column sum over sequences, one thread per (position, column).
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "../native/kernels/embedding.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;

// VEC consecutive elements moved as one load or store (16 bytes when VEC * sizeof(T) == 16).
template <class T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

template <class T, int VEC>
__device__ __forceinline__ void load_pack(const T* p, float (&out)[VEC]) {
  const Pack<T, VEC> pack = *reinterpret_cast<const Pack<T, VEC>*>(p);
#pragma unroll
  for (int k = 0; k < VEC; ++k) out[k] = to_float(pack.v[k]);
}

template <class T, int VEC>
__device__ __forceinline__ void store_pack(T* p, const float (&in)[VEC]) {
  Pack<T, VEC> pack;
#pragma unroll
  for (int k = 0; k < VEC; ++k) pack.v[k] = from_float<T>(in[k]);
  *reinterpret_cast<Pack<T, VEC>*>(p) = pack;
}

// ---------------------------------------------------------------------------------------------
// Forward

// Threads work in groups of `lanes` over a grid-stride loop of items: this thread's lane in its
// group, its group's first item and the stride between a group's items.
struct LaneGroup {
  int lane;
  int64_t first, stride;
};
__device__ __forceinline__ LaneGroup lane_group(int lanes) {
  const int64_t groups_per_block = blockDim.x / lanes;
  return LaneGroup{int(threadIdx.x % lanes), blockIdx.x * groups_per_block + threadIdx.x / lanes,
                   int64_t(gridDim.x) * groups_per_block};
}

template <class T, int VEC>
__global__ void embedding_forward_kernel(EmbeddingForwardParams p, int lanes, int error_site,
                                         KernelErrorRecord* errors) {
  const T* table = static_cast<const T*>(p.table);
  const T* positions = static_cast<const T*>(p.positions);
  T* out = static_cast<T*>(p.out);
  const LaneGroup g = lane_group(lanes);
  const int lane = g.lane;
  for (int64_t i = g.first; i < p.count; i += g.stride) {
    const int64_t index = p.indices[i];
    T* dst = out + i * p.width;
    const bool in_range = index >= 0 && index < p.rows;
    if (!in_range && lane == 0) report_error(errors, error_site, index, p.rows);
    const bool zero = !in_range || index == p.padding_idx;
    const T* src = table + (zero ? 0 : index) * p.width;
    const T* pos = positions != nullptr ? positions + (i % p.sequence_length) * p.width : nullptr;
    for (int64_t c = int64_t(lane) * VEC; c < p.width; c += int64_t(lanes) * VEC) {
      float v[VEC];
      if (zero) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) v[k] = 0.0f;
      } else {
        load_pack<T, VEC>(src + c, v);
#pragma unroll
        for (int k = 0; k < VEC; ++k) v[k] *= p.scale;
        if (pos != nullptr) {
          float w[VEC];
          load_pack<T, VEC>(pos + c, w);
#pragma unroll
          for (int k = 0; k < VEC; ++k) v[k] += w[k];
        }
      }
      store_pack<T, VEC>(dst + c, v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward

__global__ void embedding_sort_keys_kernel(const int32_t* __restrict__ indices, int64_t count, int64_t rows,
                                           int64_t padding_idx, int32_t* __restrict__ keys,
                                           int32_t* __restrict__ positions, int error_site,
                                           KernelErrorRecord* errors) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t index = indices[i];
    const bool in_range = index >= 0 && index < rows;
    if (!in_range) report_error(errors, error_site, index, rows);
    keys[i] = (in_range && index != padding_idx) ? index : int32_t(rows);
    positions[i] = int32_t(i);
  }
}

// A lane group per sorted entry; the group whose entry starts a row's segment sums that segment
// in sorted (= position) order and writes the row. Rows no index touches were zeroed before.
template <class T, int VEC>
__global__ void embedding_grad_table_kernel(EmbeddingBackwardParams p,
                                            const int32_t* __restrict__ sorted_keys,
                                            const int32_t* __restrict__ sorted_positions, int lanes) {
  const T* grad = static_cast<const T*>(p.grad_out);
  T* grad_table = static_cast<T*>(p.grad_table);
  const LaneGroup g = lane_group(lanes);
  const int lane = g.lane;
  for (int64_t begin = g.first; begin < p.count; begin += g.stride) {
    const int32_t row = sorted_keys[begin];
    if (row >= p.rows) break;  // padding and bad indices sort last
    if (begin > 0 && sorted_keys[begin - 1] == row) continue;
    int64_t end = begin + 1;
    while (end < p.count && sorted_keys[end] == row) ++end;
    T* dst = grad_table + int64_t(row) * p.width;
    for (int64_t c = int64_t(lane) * VEC; c < p.width; c += int64_t(lanes) * VEC) {
      float acc[VEC];
#pragma unroll
      for (int k = 0; k < VEC; ++k) acc[k] = 0.0f;
      for (int64_t e = begin; e < end; ++e) {
        float v[VEC];
        load_pack<T, VEC>(grad + int64_t(sorted_positions[e]) * p.width + c, v);
#pragma unroll
        for (int k = 0; k < VEC; ++k) acc[k] += v[k];
      }
#pragma unroll
      for (int k = 0; k < VEC; ++k) acc[k] *= p.scale;
      store_pack<T, VEC>(dst + c, acc);
    }
  }
}

template <class T>
__global__ void embedding_grad_positions_kernel(EmbeddingBackwardParams p) {
  const T* grad = static_cast<const T*>(p.grad_out);
  T* grad_positions = static_cast<T*>(p.grad_positions);
  const int64_t total = p.position_rows * p.width;
  const int64_t sequences = p.count / p.sequence_length;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t position = e / p.width, c = e % p.width;
    float acc = 0.0f;
    if (position < p.sequence_length) {
      for (int64_t n = 0; n < sequences; ++n) {
        const int64_t i = n * p.sequence_length + position;
        const int64_t index = p.indices[i];
        if (index == p.padding_idx || index < 0 || index >= p.rows) continue;
        acc += to_float(grad[i * p.width + c]);
      }
    }
    grad_positions[e] = from_float<T>(acc);
  }
}

bool aligned(const void* ptr, size_t bytes) { return reinterpret_cast<uintptr_t>(ptr) % bytes == 0; }

// Elements per 16-byte pack when every row start is 16-byte aligned, else 1 (the "vector"
// variant); the "reference" variant forces scalar loads, so the GPU suite validates both paths.
template <class T>
int vector_width(int64_t width, std::initializer_list<const void*> pointers) {
  constexpr int kVec = int(16 / sizeof(T));
  const bool reference = kernel_variant("embedding") == "reference";
  if (reference || width % kVec != 0) return 1;
  for (const void* ptr : pointers)
    if (ptr != nullptr && !aligned(ptr, 16)) return 1;
  return kVec;
}

// Lanes per row: enough to cover the row in one sweep of packs, at most a warp.
int lanes_for(int64_t width, int vec) {
  const int64_t packs = (width + vec - 1) / vec;
  int lanes = 1;
  while (lanes < 32 && lanes < packs) lanes <<= 1;
  return lanes;
}

unsigned grid_for_groups(int64_t groups, int lanes, const CudaStream& s) {
  const int64_t threads = groups * lanes;
  return grid_for(threads, kThreads, s, 16);
}

template <class T>
void forward_typed(const EmbeddingForwardParams& p, const CudaStream& s) {
  const int site = embedding_index_error_site();
  const int vec = vector_width<T>(p.width, {p.table, p.positions, p.out});
  const int lanes = lanes_for(p.width, vec);
  const unsigned grid = grid_for_groups(p.count, lanes, s);
  constexpr int kVec = int(16 / sizeof(T));
  if (vec == kVec)
    embedding_forward_kernel<T, kVec><<<grid, kThreads, 0, s.stream>>>(p, lanes, site, s.errors);
  else
    embedding_forward_kernel<T, 1><<<grid, kThreads, 0, s.stream>>>(p, lanes, site, s.errors);
}

int key_bits(int64_t rows) {
  int bits = 1;
  while (bits < 32 && (int64_t(1) << bits) <= rows) ++bits;  // keys go up to `rows` (padding)
  return bits;
}

template <class T>
void backward_typed(const EmbeddingBackwardParams& p, const CudaStream& s) {
  const int site = embedding_index_error_site();
  if (p.grad_table != nullptr) {
    const int count = int(p.count);  // the op layer keeps count below 2^31
    const size_t list_bytes = size_t(count) * sizeof(int32_t);
    size_t temp_bytes = 0;
    cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const int32_t*>(nullptr),
                                    static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                    static_cast<int32_t*>(nullptr), count, 0, key_bits(p.rows), s.stream);
    const size_t total_bytes = std::max<size_t>(4 * list_bytes + temp_bytes, 16);
    char* scratch = static_cast<char*>(s.scratch->allocate(total_bytes));
    int32_t* keys = reinterpret_cast<int32_t*>(scratch);
    int32_t* positions = keys + count;
    int32_t* sorted_keys = positions + count;
    int32_t* sorted_positions = sorted_keys + count;
    void* temp = scratch + 4 * list_bytes;
    if (count > 0) {
      embedding_sort_keys_kernel<<<grid_for(count, kThreads, s), kThreads, 0, s.stream>>>(
          p.indices, p.count, p.rows, p.padding_idx, keys, positions, site, s.errors);
      cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, sorted_keys, positions, sorted_positions, count,
                                      0, key_bits(p.rows), s.stream);
    }
    // All-zero bits are 0.0 in f32 and bf16 alike.
    cudaMemsetAsync(p.grad_table, 0, size_t(p.rows * p.width) * sizeof(T), s.stream);
    const int vec = vector_width<T>(p.width, {p.grad_out, p.grad_table});
    const int lanes = lanes_for(p.width, vec);
    const unsigned grid = grid_for_groups(count, lanes, s);
    constexpr int kVec = int(16 / sizeof(T));
    if (vec == kVec)
      embedding_grad_table_kernel<T, kVec>
          <<<grid, kThreads, 0, s.stream>>>(p, sorted_keys, sorted_positions, lanes);
    else
      embedding_grad_table_kernel<T, 1>
          <<<grid, kThreads, 0, s.stream>>>(p, sorted_keys, sorted_positions, lanes);
    s.scratch->release(scratch, total_bytes);  // stream-ordered: safe once queued
  }
  if (p.grad_positions != nullptr && p.position_rows > 0) {
    embedding_grad_positions_kernel<T>
        <<<grid_for(p.position_rows * p.width, kThreads, s), kThreads, 0, s.stream>>>(p);
  }
}

}  // namespace

void embedding_forward(const EmbeddingForwardParams& p, const CudaStream& s) {
  if (p.count == 0 || p.width == 0) return;
  if (p.dtype == DType::F32)
    forward_typed<float>(p, s);
  else if (p.dtype == DType::BF16)
    forward_typed<bf16>(p, s);
}

void embedding_backward(const EmbeddingBackwardParams& p, const CudaStream& s) {
  if (p.width == 0) return;
  if (p.dtype == DType::F32)
    backward_typed<float>(p, s);
  else if (p.dtype == DType::BF16)
    backward_typed<bf16>(p, s);
}

}  // namespace llmrec::kernels::cuda
