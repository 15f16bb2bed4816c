// Losses: softmax cross-entropy fused with the output projection (chunked over the vocabulary,
// so the N x V logits never exist in memory), plain cross-entropy over given logits (which also
// serves sampled softmax, with the positive's score as column 0), and BCE with logits. CPU twin
// native/cpu/loss.cc, CUDA twin cuda/loss.cu.
//
// Cross-entropy with label smoothing eps over C classes uses the target q = (1 - eps) onehot(y)
// + eps / C, so a row's loss is lse - (1 - eps) z_y - eps/C sum_j z_j and dz = softmax(z) - q.
// Rows whose label equals ignore_index contribute nothing; 'mean' divides by the number of the
// other rows (NaN when there are none, as in PyTorch). Losses are always f32.
#pragma once

#include <cstdint>

#include "../abi/dtype.h"
#include "../abi/kernel_api.h"
#include "../abi/options.h"

namespace llmrec::kernels {

enum class LossReduction : int32_t { None = 0, Mean, Sum };
inline constexpr EnumName<LossReduction> kLossReductionNames[] = {
    {"mean", LossReduction::Mean}, {"sum", LossReduction::Sum}, {"none", LossReduction::None}};

// The options of every cross-entropy call (forward and backward), read by name from the JS
// object the native calls take (CrossEntropyNativeOptions in lib/ops/loss.ts) and carried by the
// kernel parameters in their CrossEntropyTargets.
struct CrossEntropyOptions {
  int32_t ignore_index = -100;
  float label_smoothing = 0.0f;
  LossReduction reduction = LossReduction::Mean;

  template <class F>
  void fields(F& f) {
    f("ignoreIndex", ignore_index);
    f("labelSmoothing", label_smoothing);
    f("reduction", reduction, kLossReductionNames);
  }
};

// Shared by the cross-entropy kernels: the labels and what to do with them.
struct CrossEntropyTargets : CrossEntropyOptions {
  const int32_t* labels = nullptr;  // [rows]; null means every label is 0 (sampled softmax)
  int error_site = 0;               // "label {limit} of row {value} is out of range"
};

// hidden [rows, dim] x weight [vocab, dim]^T, never materialised beyond one chunk of columns.
struct LinearCrossEntropyParams {
  DType dtype = DType::F32;  // of hidden and weight
  const void* hidden = nullptr;
  const void* weight = nullptr;
  int64_t rows = 0, dim = 0, vocab = 0;
  int64_t chunk = 0;  // vocabulary columns per chunk (0: the twin chooses)
  CrossEntropyTargets targets;
  float* row_loss = nullptr;  // [rows], 0 for ignored rows
  float* lse = nullptr;       // [rows], saved for the backward
  // Optional f32 [rows, vocab] (CPU twin only): the forward stores the logits here and the
  // backward reads them instead of recomputing them, one GEMM less for rows x vocab x 4 bytes.
  float* logits = nullptr;
};

// grad_loss: one value for 'mean'/'sum', [rows] for 'none'. Writes grad_hidden [rows, dim] and
// grad_weight [vocab, dim] (either may be null when not needed); both deterministic.
struct LinearCrossEntropyBackwardParams {
  LinearCrossEntropyParams forward;  // row_loss unused; lse read
  LossReduction reduction = LossReduction::Mean;
  const float* grad_loss = nullptr;
  void* grad_hidden = nullptr;
  void* grad_weight = nullptr;
};

// Cross-entropy over logits given as [rows, cols], or (sampled softmax) as a first column
// `first` [rows] followed by `rest` [rows, cols - 1].
struct CrossEntropyParams {
  DType dtype = DType::F32;
  const void* first = nullptr;  // optional
  const void* rest = nullptr;
  int64_t rows = 0, cols = 0;  // cols counts `first` when present
  CrossEntropyTargets targets;
  float* row_loss = nullptr;
  float* lse = nullptr;
};

struct CrossEntropyBackwardParams {
  CrossEntropyParams forward;  // row_loss unused; lse read
  LossReduction reduction = LossReduction::Mean;
  const float* grad_loss = nullptr;
  void* grad_first = nullptr;  // set exactly when forward.first is
  void* grad_rest = nullptr;
};

// out = sum (or mean over the rows whose label is not ignored) of row_loss, as one f32.
struct LossReduceParams {
  const float* row_loss = nullptr;
  int64_t rows = 0;
  CrossEntropyTargets targets;
  LossReduction reduction = LossReduction::Mean;
  float* out = nullptr;
};

// loss = w * (max(x, 0) - x * y + log1p(exp(-|x|))), elementwise; dx = g * w * (sigmoid(x) - y).
struct BceParams {
  DType dtype = DType::F32;  // of x, target, weight and out
  const void* x = nullptr;
  const void* target = nullptr;
  const void* weight = nullptr;  // optional, same shape
  void* out = nullptr;
  int64_t numel = 0;
};
struct BceBackwardParams {
  BceParams forward;  // out unused
  const void* grad_out = nullptr;
  void* grad_x = nullptr;
};

// Scores of items picked from a table: out[n, k] = user[n, :] . table[indices[n, k], :], the
// logits of sampled softmax (positive and negatives) and of BCE with sampled negatives. The
// backward gives grad_user [rows, dim] and a dense grad_table [items, dim]; the table gradient
// sums each item's contributions in (n, k) order (a stable sort by item, then one owner per
// item), so it is deterministic without atomics.
struct GatherDotParams {
  DType dtype = DType::F32;  // of user, table and out
  const void* user = nullptr;
  const void* table = nullptr;
  const int32_t* indices = nullptr;  // [rows, per_row]
  void* out = nullptr;               // [rows, per_row]
  int64_t rows = 0, per_row = 0, dim = 0, items = 0;
  int error_site = 0;  // "indices[{value}] = {limit} is out of range"
};

struct GatherDotBackwardParams {
  GatherDotParams forward;  // out unused
  const void* grad_out = nullptr;
  void* grad_user = nullptr;   // optional
  void* grad_table = nullptr;  // optional
};

// The twins (native/cpu and cuda/) of each kernel.
LLMREC_KERNEL_TWINS(gather_dot, GatherDotParams);
LLMREC_KERNEL_TWINS(gather_dot_backward, GatherDotBackwardParams);
LLMREC_KERNEL_TWINS(linear_cross_entropy, LinearCrossEntropyParams);
LLMREC_KERNEL_TWINS(linear_cross_entropy_backward, LinearCrossEntropyBackwardParams);
LLMREC_KERNEL_TWINS(cross_entropy, CrossEntropyParams);
LLMREC_KERNEL_TWINS(cross_entropy_backward, CrossEntropyBackwardParams);
LLMREC_KERNEL_TWINS(loss_reduce, LossReduceParams);
LLMREC_KERNEL_TWINS(bce_with_logits, BceParams);
LLMREC_KERNEL_TWINS(bce_with_logits_backward, BceBackwardParams);

}  // namespace llmrec::kernels
