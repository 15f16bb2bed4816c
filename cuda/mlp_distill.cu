// CUDA twin of native/cpu/mlp_distill.cc: the epilogues around the gemm family's GEMMs.
//
// Row passes (hidden forward, loss, hidden backward) give one block to a row (grid-stride over
// rows) and reduce with block_reduce; the row stays in L1/L2 between its passes. Every sum over
// rows is deterministic without atomics: the loss is summed by one block in a fixed order, db2
// by one thread per column in row order, and db1 / dLN-weight / dLN-bias through per-row-block
// partials (each column owned by one thread of the block) summed in block order.
#include <algorithm>

#include "../native/kernels/mlp_distill.h"
#include "common.cuh"

namespace llmrec::kernels::cuda {
using namespace llmrec::cuda_common;

namespace {

constexpr int kThreads = 256;

template <class T>
__device__ __forceinline__ float load_or(const void* p, int64_t i, float fallback) {
  return p == nullptr ? fallback : to_float(static_cast<const T*>(p)[i]);
}

// ---- forward: pre += b1, LayerNorm statistics, hidden = act(LN(pre)) ----

template <class T, DistillActivation ACT>
__global__ void hidden_forward_kernel(DistillHiddenParams p) {
  __shared__ float scratch[32];
  const int64_t cols = p.cols;
  const bool ln = p.ln_weight != nullptr;
  T* hidden = static_cast<T*>(p.hidden);
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    float* pre = p.pre + r * cols;
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float v = pre[j] + load_or<T>(p.bias, j, 0.0f);
      pre[j] = v;  // read back below only by this thread
      sum += v;
    }
    float mean = 0.0f, rstd = 1.0f;
    if (ln) {
      mean = block_reduce(sum, Sum(), 0.0f, scratch) / float(cols);
      float sq = 0.0f;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const float d = pre[j] - mean;
        sq += d * d;
      }
      sq = block_reduce(sq, Sum(), 0.0f, scratch);
      rstd = rsqrtf(sq / float(cols) + p.eps);
      if (threadIdx.x == 0) {
        p.mean[r] = mean;
        p.rstd[r] = rstd;
      }
    }
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      float u = pre[j];
      if (ln) u = (u - mean) * rstd * load_or<T>(p.ln_weight, j, 1.0f) + load_or<T>(p.ln_bias, j, 0.0f);
      hidden[r * cols + j] = from_float<T>(distill_activate<ACT>(u, p.slope));
    }
  }
}

// ---- forward: y += b2, per-row loss terms and dLoss/dy (and dLoss/dt) in one pass per row ----

template <class T>
__global__ void loss_rows_kernel(DistillLossParams p, float scale, float* row_loss) {
  __shared__ float scratch[32];
  const int64_t cols = p.cols;
  const T* teacher = static_cast<const T*>(p.teacher);
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    float* y = p.out + r * cols;
    const T* t = teacher + r * cols;
    float* tg = p.teacher_grad ? p.teacher_grad + r * cols : nullptr;
    float yy = 0.0f, tt = 0.0f, yt = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float v = y[j] + load_or<T>(p.bias, j, 0.0f);
      const float tv = to_float(t[j]);
      y[j] = v;  // each element is read back only by the thread that wrote it
      if (p.loss == DistillLoss::Mse) {
        yy += (v - tv) * (v - tv);
      } else {
        yy += v * v;
        tt += tv * tv;
        yt += v * tv;
      }
    }
    yy = block_reduce(yy, Sum(), 0.0f, scratch);
    if (p.loss == DistillLoss::Mse) {
      const float g = 2.0f * scale;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const float d = (y[j] - to_float(t[j])) * g;
        y[j] = d;
        if (tg) tg[j] = -d;
      }
      if (threadIdx.x == 0) row_loss[r] = yy;
      continue;
    }
    tt = block_reduce(tt, Sum(), 0.0f, scratch);
    yt = block_reduce(yt, Sum(), 0.0f, scratch);
    const float norm_y = sqrtf(yy), norm_t = sqrtf(tt);
    if (p.loss == DistillLoss::Cosine) {
      const float ny = fmaxf(norm_y, kDistillCosineEps), nt = fmaxf(norm_t, kDistillCosineEps);
      const float cos = yt / (ny * nt);
      const float a_y = -scale / (ny * nt);
      const float b_y = norm_y > kDistillCosineEps ? scale * cos / (ny * ny) : 0.0f;
      const float b_t = norm_t > kDistillCosineEps ? scale * cos / (nt * nt) : 0.0f;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const float yj = y[j], tj = to_float(t[j]);
        y[j] = a_y * tj + b_y * yj;
        if (tg) tg[j] = a_y * yj + b_t * tj;
      }
      if (threadIdx.x == 0) row_loss[r] = 1.0f - cos;
      continue;
    }
    const float iy = 1.0f / fmaxf(norm_y, kDistillNormalizeEps);
    const float it = 1.0f / fmaxf(norm_t, kDistillNormalizeEps);
    float row = 0.0f, diff_yn = 0.0f, diff_tn = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float yn = y[j] * iy, tn = to_float(t[j]) * it, d = yn - tn;
      row += d * d;
      diff_yn += d * yn;
      diff_tn += d * tn;
    }
    row = block_reduce(row, Sum(), 0.0f, scratch);
    diff_yn = block_reduce(diff_yn, Sum(), 0.0f, scratch);
    diff_tn = block_reduce(diff_tn, Sum(), 0.0f, scratch);
    const float proj_y = norm_y > kDistillNormalizeEps ? diff_yn : 0.0f;
    const float proj_t = norm_t > kDistillNormalizeEps ? diff_tn : 0.0f;
    const float g = 2.0f * scale;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float yn = y[j] * iy, tn = to_float(t[j]) * it, d = yn - tn;
      y[j] = g * (d - yn * proj_y) * iy;
      if (tg) tg[j] = -g * (d - tn * proj_t) * it;
    }
    if (threadIdx.x == 0) row_loss[r] = row;
  }
}

// One block: each thread sums a fixed stride of rows, then the block reduces in a fixed tree.
__global__ void loss_reduce_kernel(const float* row_loss, int64_t rows, float scale, float* loss) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) acc += row_loss[r];
  acc = block_reduce(acc, Sum(), 0.0f, scratch);
  if (threadIdx.x == 0) loss[0] = acc * scale;
}

// ---- backward: scale dLoss/dy by the upstream gradient, db2 ----

template <class T>
__global__ void scale_kernel(const float* grad_loss, const float* src, T* dst, int64_t n) {
  const float g = grad_loss[0];
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = from_float<T>(g * src[i]);
}

// One thread per column, rows in order: coalesced across the warp and deterministic.
template <class T>
__global__ void column_sum_kernel(const float* grad_loss, const float* src, int64_t rows, int64_t cols,
                                  T* dst) {
  const float g = grad_loss[0];
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
       j += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.0f;
    for (int64_t r = 0; r < rows; ++r) acc += src[r * cols + j];
    dst[j] = from_float<T>(g * acc);
  }
}

// ---- backward: dpre through act' and LayerNorm, with per-row-block parameter partials ----

// partial holds, per row block, `sets` slices of cols floats: db1, then dgamma and dbeta.
template <class T, DistillActivation ACT>
__global__ void hidden_backward_kernel(DistillHiddenBackwardParams p, int64_t blocks, int sets,
                                       float* partial) {
  __shared__ float scratch[32];
  const int64_t cols = p.cols;
  const bool ln = p.ln_weight != nullptr;
  T* grad_pre = static_cast<T*>(p.grad_pre);
  for (int64_t block = blockIdx.x; block < blocks; block += gridDim.x) {
    float* db1 = partial + block * sets * cols;
    float* dgamma = ln ? db1 + cols : nullptr;
    float* dbeta = ln ? db1 + 2 * cols : nullptr;
    // Each column j is owned by thread j % blockDim.x for the whole block: no races.
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      db1[j] = 0.0f;
      if (ln) {
        dgamma[j] = 0.0f;
        dbeta[j] = 0.0f;
      }
    }
    const int64_t row_end = min(p.rows, (block + 1) * kDistillRowBlock);
    for (int64_t r = block * kDistillRowBlock; r < row_end; ++r) {
      const float* pre = p.pre + r * cols;
      const float* gh = p.grad_hidden + r * cols;
      T* out = grad_pre + r * cols;
      if (!ln) {
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
          const float d = gh[j] * distill_activation_derivative<ACT>(pre[j], p.slope);
          db1[j] += d;
          out[j] = from_float<T>(d);
        }
        continue;
      }
      const float mean = p.mean[r], rstd = p.rstd[r];
      float sum_dx = 0.0f, sum_dx_xhat = 0.0f;
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const float gamma = load_or<T>(p.ln_weight, j, 1.0f);
        const float xhat = (pre[j] - mean) * rstd;
        const float du = gh[j] * distill_activation_derivative<ACT>(
                                     xhat * gamma + load_or<T>(p.ln_bias, j, 0.0f), p.slope);
        dgamma[j] += du * xhat;
        dbeta[j] += du;
        sum_dx += du * gamma;
        sum_dx_xhat += du * gamma * xhat;
      }
      const float m1 = block_reduce(sum_dx, Sum(), 0.0f, scratch) / float(cols);
      const float m2 = block_reduce(sum_dx_xhat, Sum(), 0.0f, scratch) / float(cols);
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        const float gamma = load_or<T>(p.ln_weight, j, 1.0f);
        const float xhat = (pre[j] - mean) * rstd;
        const float du = gh[j] * distill_activation_derivative<ACT>(
                                     xhat * gamma + load_or<T>(p.ln_bias, j, 0.0f), p.slope);
        const float d = rstd * (du * gamma - m1 - xhat * m2);
        db1[j] += d;
        out[j] = from_float<T>(d);
      }
    }
  }
}

template <class T>
__global__ void hidden_param_kernel(const float* partial, int64_t blocks, int sets, int64_t cols, T* db1,
                                    T* dgamma, T* dbeta) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < cols;
       j += int64_t(gridDim.x) * blockDim.x) {
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int64_t block = 0; block < blocks; ++block)
      for (int set = 0; set < sets; ++set) acc[set] += partial[(block * sets + set) * cols + j];
    db1[j] = from_float<T>(acc[0]);
    if (sets == 3) {
      dgamma[j] = from_float<T>(acc[1]);
      dbeta[j] = from_float<T>(acc[2]);
    }
  }
}

template <class Fn>
void visit_activation(DistillActivation act, Fn&& fn) {
  using A = DistillActivation;
  switch (act) {
    case A::Gelu: fn(std::integral_constant<A, A::Gelu>{}); break;
    case A::LeakyRelu: fn(std::integral_constant<A, A::LeakyRelu>{}); break;
    case A::Sigmoid: fn(std::integral_constant<A, A::Sigmoid>{}); break;
    case A::Relu: fn(std::integral_constant<A, A::Relu>{}); break;
  }
}

unsigned row_grid(int64_t rows, const CudaStream& s) {
  return unsigned(
      std::max<int64_t>(1, std::min<int64_t>(rows, int64_t(std::max(s.multiprocessors, 1)) * 32)));
}

}  // namespace

void distill_hidden_forward(const DistillHiddenParams& p, const CudaStream& s) {
  if (p.rows == 0 || p.cols == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    visit_activation(p.activation, [&](auto act) {
      hidden_forward_kernel<T, decltype(act)::value><<<row_grid(p.rows, s), kThreads, 0, s.stream>>>(p);
    });
  });
}

void distill_loss(const DistillLossParams& p, const CudaStream& s) {
  if (p.rows == 0 || p.cols == 0) return;
  const double count = p.loss == DistillLoss::Cosine ? double(p.rows) : double(p.rows) * double(p.cols);
  const float scale = float(1.0 / count);
  const size_t bytes = size_t(p.rows) * sizeof(float);
  float* row_loss = static_cast<float*>(s.scratch->allocate(bytes));
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    loss_rows_kernel<T><<<row_grid(p.rows, s), kThreads, 0, s.stream>>>(p, scale, row_loss);
  });
  loss_reduce_kernel<<<1, 1024, 0, s.stream>>>(row_loss, p.rows, scale, p.loss_value);
  s.scratch->release(row_loss, bytes);
}

void distill_output_grad(const DistillOutputGradParams& p, const CudaStream& s) {
  if (p.rows == 0 || p.cols == 0) return;
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const int64_t n = p.rows * p.cols;
    scale_kernel<T><<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(
        p.grad_loss, p.out_grad, static_cast<T*>(p.out_grad_scaled), n);
    if (p.teacher_grad)
      scale_kernel<T><<<grid_for(n, kThreads, s), kThreads, 0, s.stream>>>(
          p.grad_loss, p.teacher_grad, static_cast<T*>(p.teacher_grad_scaled), n);
    column_sum_kernel<T><<<grid_for(p.cols, 128, s), 128, 0, s.stream>>>(
        p.grad_loss, p.out_grad, p.rows, p.cols, static_cast<T*>(p.bias_grad));
  });
}

void distill_hidden_backward(const DistillHiddenBackwardParams& p, const CudaStream& s) {
  if (p.rows == 0 || p.cols == 0) return;
  const int64_t blocks = (p.rows + kDistillRowBlock - 1) / kDistillRowBlock;
  const int sets = p.ln_weight ? 3 : 1;
  const size_t bytes = size_t(blocks * sets * p.cols) * sizeof(float);
  float* partial = static_cast<float*>(s.scratch->allocate(bytes));
  visit_floating(p.dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    visit_activation(p.activation, [&](auto act) {
      hidden_backward_kernel<T, decltype(act)::value>
          <<<row_grid(blocks, s), kThreads, 0, s.stream>>>(p, blocks, sets, partial);
    });
    hidden_param_kernel<T><<<grid_for(p.cols, 128, s), 128, 0, s.stream>>>(
        partial, blocks, sets, p.cols, static_cast<T*>(p.grad_bias), static_cast<T*>(p.grad_ln_weight),
        static_cast<T*>(p.grad_ln_bias));
  });
  s.scratch->release(partial, bytes);
}

}  // namespace llmrec::kernels::cuda
