// Fused scaled-dot-product attention (FlashAttention-2 style) and rotary position embeddings.
//
// Layout: q [B, Hq, Lq, D], k and v [B, Hkv, Lk, D], out [B, Hq, Lq, D], all contiguous and of
// one dtype (f32 or bf16; compute is f32). Query head h reads kv head h / (Hq / Hkv) (GQA).
//
// Every mask this family supports leaves each query row a contiguous interval of visible keys,
// so the kernels never build a mask tensor: row i of batch b sees keys j with
//   key_begin(b) <= j < key_end(b)          (key padding: per-batch valid lengths)
//   j <= i + (Lk - Lq)                      (causal, aligned at the end as in a KV cache)
// A row with no visible key outputs zeros, has lse = -inf and gets zero gradients.
//
// Dropout drops each probability P[b,h,i,j] with probability `dropout`, scaling the kept ones by
// 1 / (1 - dropout). The decision comes from Philox: element e = ((b*Hq + h)*Lq + i)*Lk + j uses
// lane e % 4 of counter offset + e / 4 under key `seed`, so CPU and CUDA drop the same elements
// and backward regenerates the mask instead of storing it. A call consumes ceil(B*Hq*Lq*Lk / 4)
// counters.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"
#include "../abi/options.h"
#include "philox.h"

namespace llmrec::kernels {

// The options of one attention call, read by name from the JS object both native calls take
// (AttentionNativeOptions in lib/ops/attention.ts; a missing, mistyped or unknown field is an
// Error naming it), and carried to both twins inside AttentionShape. fields() is the one list of
// the JS names; a new option is a member here, its line in fields() and the kernels that read it.
struct AttentionOptions {
  bool causal = false;
  // Key padding: null means every key is valid. Otherwise i32 [B]: lengths[b] keys are valid, at
  // the end of the row when left_padding (keys [Lk - len, Lk)) and at its start otherwise
  // ([0, len)). The op checks the tensor and sets AttentionShape::key_lengths to its data.
  const Tensor* key_lengths_tensor = nullptr;
  bool left_padding = false;
  Maybe<double> requested_scale;  // absent: 1 / sqrt(D); the op resolves AttentionShape::scale
  float dropout = 0.0f;
  uint64_t seed = 0, offset = 0;

  template <class F>
  void fields(F& f) {
    f("causal", causal);
    f("keyLengths", key_lengths_tensor);
    f("leftPadding", left_padding);
    f("scale", requested_scale);
    f("dropout", dropout);
    f("seed", seed);
    f("offset", offset);
  }
};

// The options plus what the op derives from the tensors.
struct AttentionShape : AttentionOptions {
  DType dtype = DType::F32;  // of q, k, v, out and their gradients
  int64_t batch = 0, q_heads = 0, kv_heads = 0, q_len = 0, kv_len = 0, head_dim = 0;
  float scale = 1.0f;
  const int32_t* key_lengths = nullptr;  // the data of key_lengths_tensor, or null
  int key_lengths_error_site = 0;        // raised for a length outside [0, kv_len]
};

struct AttentionForwardParams {
  AttentionShape shape;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  float* lse = nullptr;  // [B, Hq, Lq]: log-sum-exp of the scaled scores, -inf for an empty row
};

struct AttentionBackwardParams {
  AttentionShape shape;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* out = nullptr;
  const void* grad_out = nullptr;
  const float* lse = nullptr;
  float* delta = nullptr;  // [B, Hq, Lq] workspace: rowsum(grad_out * out)
  void* grad_q = nullptr;
  void* grad_k = nullptr;  // summed over the query heads of each GQA group
  void* grad_v = nullptr;
};

// Rotary embedding, rotate-half convention (HF Llama / Qwen2): with half = D / 2 and
// angle_k = position * theta^(-2k / D), out[k] = x[k] cos - x[k + half] sin and
// out[k + half] = x[k + half] cos + x[k] sin. `inverse` rotates by -angle: that is the backward.
// x and out are [B, H, L, D]; positions are i32, [L] (shared) or [B, L].
struct RopeParams {
  DType dtype = DType::F32;
  const void* x = nullptr;
  void* out = nullptr;
  const int32_t* positions = nullptr;
  bool positions_per_batch = false;
  int64_t batch = 0, heads = 0, len = 0, head_dim = 0;
  double theta = 10000.0;
  bool inverse = false;
};

// Visible keys of a query row: [begin, end); empty when begin >= end.
struct KeyRange {
  int64_t begin, end;
};

LLMREC_HD KeyRange attention_key_range(const AttentionShape& s, int64_t b, int64_t i) {
  int64_t begin = 0, end = s.kv_len;
  if (s.key_lengths != nullptr) {
    int64_t len = s.key_lengths[b];
    len = len < 0 ? 0 : (len > s.kv_len ? s.kv_len : len);
    if (s.left_padding)
      begin = s.kv_len - len;
    else
      end = len;
  }
  if (s.causal) {
    const int64_t last = i + (s.kv_len - s.q_len);
    if (last + 1 < end) end = last + 1;
  }
  return KeyRange{begin, end};
}

// Where the keys (and values) of query pair bh = b * Hq + h start: at its GQA kv head's.
LLMREC_HD int64_t attention_kv_offset(const AttentionShape& s, int64_t bh) {
  const int64_t b = bh / s.q_heads, hk = bh % s.q_heads / (s.q_heads / s.kv_heads);
  return (b * s.kv_heads + hk) * s.kv_len * s.head_dim;
}

// The factor a kept probability is scaled by: 1 / (1 - dropout), 1 without dropout.
LLMREC_HD float attention_keep_scale(const AttentionShape& s) {
  return s.dropout > 0.0f ? 1.0f / (1.0f - s.dropout) : 1.0f;
}

// Philox bits for element e of the probability tensor; true means the probability is kept.
LLMREC_HD bool attention_keep(const AttentionShape& s, uint64_t element) {
  const philox::Bits4 bits = philox::generate(s.seed, s.offset + element / 4);
  return philox::uniform01(philox::lane(bits, int(element % 4))) >= s.dropout;
}

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(attention_forward, AttentionForwardParams);
LLMREC_KERNEL_TWINS(attention_backward, AttentionBackwardParams);
LLMREC_KERNEL_TWINS(rope, RopeParams);

}  // namespace llmrec::kernels
