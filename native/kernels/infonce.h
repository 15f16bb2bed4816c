// InfoNCE (contrastive) loss, fused: optional L2-normalisation, temperature, in-batch keys plus
// extra negatives, masking of false negatives, a symmetric variant and an in-batch uniformity
// term. Memory is O(B·d): logits are computed in tiles with an online log-sum-exp, only the
// per-row log-sum-exps are saved, and the backward recomputes the tiles (a row-major pass for
// the row side, a key-major pass for the key side, so no float atomics are needed).
//
// With q̂ and k̂ the (normalised) queries [B, d] and keys [N + M, d] (the M extra negatives
// follow the N in-batch keys), s_ij = q̂_i·k̂_j / tau and p_i = positives[i] (default i):
//   q→k: l_i = logsumexp_{j kept}(s_ij) - s_{i,p_i}
//   k→q (symmetric): the anchor is k̂_{p_i}, the candidates are the queries i', the positive is i:
//        l'_i = logsumexp_{i' kept}(s_{i',p_i}) - s_{i,p_i}
//   loss = mean(l) (or (mean(l) + mean(l')) / 2 when symmetric)
//          + weight · log( mean_{i≠i'} exp(-t·||q̂_i - q̂_i'||²) )   (uniformity, when weight != 0)
// A key j is dropped from row i's denominator when item_ids[j] == item_ids[p_i] and j != p_i (a
// false negative); in the k→q direction query i' is dropped when item_ids[p_i'] == item_ids[p_i]
// and i' != i.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"

namespace llmrec::kernels {

// The options of the forward and the backward, read by name from the JS object both native calls
// take (InfoNceNativeOptions in lib/ops/infonce.ts) and carried by the kernel parameters.
struct InfoNceOptions {
  float temperature = 1.0f;
  bool normalize = false;
  bool symmetric = false;
  float uniformity_t = 2.0f;
  float uniformity_weight = 0.0f;  // 0: no uniformity term

  template <class F>
  void fields(F& f) {
    f("temperature", temperature);
    f("normalize", normalize);
    f("symmetric", symmetric);
    f("uniformityT", uniformity_t);
    f("uniformityWeight", uniformity_weight);
  }
};

struct InfoNceParams : InfoNceOptions {
  DType dtype = DType::F32;         // of queries, keys, negatives and their gradients
  const void* queries = nullptr;    // [batch, dim]
  const void* keys = nullptr;       // [key_count, dim]
  const void* negatives = nullptr;  // [negative_count, dim] or null
  int64_t batch = 0, key_count = 0, negative_count = 0, dim = 0;
  const int32_t* positives = nullptr;  // [batch], indices into keys; null means positives[i] = i
  const int32_t* item_ids = nullptr;   // [key_count + negative_count] or null (no masking)

  // Forward writes loss [1] and stats [2 * batch + 1] (q→k log-sum-exps, k→q log-sum-exps, the
  // uniformity log-sum-exp); the backward reads stats and grad_loss [1] and writes the gradients
  // (grad_negatives only when negatives are given).
  float* loss = nullptr;
  float* stats = nullptr;
  const float* grad_loss = nullptr;
  void* grad_queries = nullptr;
  void* grad_keys = nullptr;
  void* grad_negatives = nullptr;
};

inline int64_t infonce_stats_size(int64_t batch) { return 2 * batch + 1; }

// The error site both twins report an out-of-range positive index through.
int infonce_positive_error_site();

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(infonce_forward, InfoNceParams);
LLMREC_KERNEL_TWINS(infonce_backward, InfoNceParams);

}  // namespace llmrec::kernels
