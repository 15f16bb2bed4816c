#include "optim.h"

#include <cmath>
#include <string>

#include "../abi/error.h"
#include "../core/dispatch.h"
#include "../kernels/optim.h"

namespace llmrec::ops {
namespace {

constexpr const char* kAdam = "adamStep";

std::string indexed(const char* name, size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

void expect_state(const Tensor& param, const Tensor* state, const char* name, size_t i) {
  if (state == nullptr) fail(kAdam, ": '", indexed(name, i), "' is missing");
  if (state->dtype != DType::F32 || state->numel != param.numel || state->device() != param.device())
    fail(kAdam, ": '", indexed(name, i), "' is ", dtype_name(state->dtype), shape_str(state->shape), " on ",
         state->device().str(), " but must be f32 with ", param.numel, " elements on ", param.device().str(),
         " like params[", i, "] ", shape_str(param.shape));
}

void check_hyper(const AdamHyper& h) {
  auto finite_at_least = [](double value, double low, const char* name) {
    if (!std::isfinite(value) || value < low)
      fail(kAdam, ": '", name, "' must be a finite number >= ", low, ", got ", value);
  };
  finite_at_least(h.lr, 0.0, "lr");
  finite_at_least(h.weight_decay, 0.0, "weightDecay");
  if (!(h.eps > 0.0) || !std::isfinite(h.eps))
    fail(kAdam, ": 'eps' must be a finite number > 0, got ", h.eps);
  for (auto [value, name] : {std::pair{h.beta1, "beta1"}, std::pair{h.beta2, "beta2"}})
    if (!(value >= 0.0 && value < 1.0)) fail(kAdam, ": '", name, "' must be in [0, 1), got ", value);
  if (h.step < 1) fail(kAdam, ": 'step' must be >= 1 (the first step is 1), got ", h.step);
}

}  // namespace

void adam_step(Context& ctx, const std::vector<const Tensor*>& params,
               const std::vector<const Tensor*>& grads, const std::vector<const Tensor*>& exp_avgs,
               const std::vector<const Tensor*>& exp_avg_sqs, const std::vector<const Tensor*>& masters,
               const Tensor* grad_scale, const AdamHyper& hyper) {
  check_hyper(hyper);
  const size_t count = params.size();
  for (auto [list, name] : {std::pair{&grads, "grads"}, std::pair{&exp_avgs, "expAvg"},
                            std::pair{&exp_avg_sqs, "expAvgSq"}, std::pair{&masters, "masters"}})
    if (list->size() != count)
      fail(kAdam, ": '", name, "' has ", list->size(), " entries but 'params' has ", count);
  // Everything is checked before anything is queued, so a bad entry leaves every parameter as it was.
  for (size_t i = 0; i < count; ++i) {
    const Tensor& param = *params[i];
    if (!is_floating(param.dtype))
      fail(kAdam, ": 'params[", i, "]' is ", dtype_name(param.dtype), shape_str(param.shape),
           "; only f32 and bf16 parameters can be optimised");
    const Tensor* grad = grads[i];
    if (grad == nullptr) fail(kAdam, ": 'grads[", i, "]' is missing");
    if (grad->dtype != param.dtype || grad->shape != param.shape || grad->device() != param.device())
      fail(kAdam, ": 'grads[", i, "]' is ", dtype_name(grad->dtype), shape_str(grad->shape), " on ",
           grad->device().str(), " but params[", i, "] is ", dtype_name(param.dtype), shape_str(param.shape),
           " on ", param.device().str());
    expect_state(param, exp_avgs[i], "expAvg", i);
    expect_state(param, exp_avg_sqs[i], "expAvgSq", i);
    if (masters[i] != nullptr) {
      if (param.dtype != DType::BF16)
        fail(kAdam, ": 'masters[", i, "]' is given but params[", i, "] is ", dtype_name(param.dtype),
             "; master weights are only for bf16 parameters");
      expect_state(param, masters[i], "masters", i);
    }
    if (grad_scale != nullptr &&
        (grad_scale->dtype != DType::F32 || grad_scale->numel != 1 || grad_scale->device() != param.device()))
      fail(kAdam, ": 'gradScale' must be a one-element f32 tensor on ", param.device().str(), ", got ",
           dtype_name(grad_scale->dtype), shape_str(grad_scale->shape), " on ", grad_scale->device().str());
  }
  const double bias_correction1 = 1.0 - std::pow(hyper.beta1, double(hyper.step));
  const double bias_correction2 = 1.0 - std::pow(hyper.beta2, double(hyper.step));
  for (size_t i = 0; i < count; ++i) {
    const Tensor& param = *params[i];
    if (param.numel == 0) continue;
    kernels::AdamParams p;
    p.param_dtype = param.dtype;
    p.param = param.data();
    p.grad = grads[i]->data();
    p.master = masters[i] ? masters[i]->data_as<float>() : nullptr;
    p.exp_avg = exp_avgs[i]->data_as<float>();
    p.exp_avg_sq = exp_avg_sqs[i]->data_as<float>();
    p.grad_scale = grad_scale ? grad_scale->data_as<float>() : nullptr;
    p.numel = param.numel;
    p.lr = float(hyper.lr);
    p.beta1 = float(hyper.beta1);
    p.beta2 = float(hyper.beta2);
    p.eps = float(hyper.eps);
    p.weight_decay = float(hyper.weight_decay);
    p.bias_correction1 = float(bias_correction1);
    p.bias_correction2 = float(bias_correction2);
    p.decoupled = hyper.decoupled;
    submit_twins(ctx, param.device(), kAdam,
                 {&param, grads[i], exp_avgs[i], exp_avg_sqs[i], masters[i], grad_scale},
                 LLMREC_TWINS(adam_step), p);
  }
}

Tensor squared_norms(Context& ctx, const std::vector<const Tensor*>& tensors) {
  constexpr const char* kOp = "squaredNorms";
  if (tensors.empty()) fail(kOp, ": 'tensors' is empty; pass at least one tensor");
  const Device device = tensors[0]->device();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = *tensors[i];
    if (!is_floating(t.dtype))
      fail(kOp, ": 'tensors[", i, "]' is ", dtype_name(t.dtype), shape_str(t.shape), "; needs f32 or bf16");
    if (t.device() != device)
      fail(kOp, ": 'tensors[", i, "]' is on ", t.device().str(), " but tensors[0] is on ", device.str());
  }
  Tensor out = ctx.empty({int64_t(tensors.size())}, DType::F32, device, kOp);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = *tensors[i];
    kernels::SquaredNormParams p;
    p.dtype = t.dtype;
    p.x = t.data();
    p.numel = t.numel;
    p.out = out.data_as<float>() + i;
    submit_twins(ctx, device, kOp, {&t, &out}, LLMREC_TWINS(squared_norm), p);
  }
  return out;
}

}  // namespace llmrec::ops
