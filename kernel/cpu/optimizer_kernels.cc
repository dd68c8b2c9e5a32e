// CPU kernels of the optimizer ops. Update kernels write their mutable inputs
// (var and optimizer state) in place; their kernel dtype is var's dtype.
//
// Each kernel follows the order of operations of PyTorch's single-tensor CPU
// path (torch.optim.SGD, torch.optim.Adam/AdamW, clip_grad_norm_): scalar
// coefficients are computed in double as Python does, elementwise arithmetic
// in the tensor's dtype, so f32 results track PyTorch's closely. On AVX-512
// CPUs the f32 loops run 16 lanes at a time with the same operations in the
// same order (products rounded before they are added, never fused), so they
// give the same bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "base/status_macros.h"
#include "kernel/cpu/avx512.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

// Reads a floating scalar tensor of either floating dtype.
double ReadScalar(const Tensor& tensor) {
  return tensor.dtype() == DataType::kFloat32 ? tensor.data<float>()[0] : tensor.data<double>()[0];
}

SBP_AVX512 void SgdAvx512(float* var, const float* grad, int64_t count, float negative_lr,
                          float decay, bool decays) {
  const __m512 lr_vector = _mm512_set1_ps(negative_lr);
  const __m512 decay_vector = _mm512_set1_ps(decay);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = cpu::TailMask(count - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, var + i);
    __m512 g = _mm512_maskz_loadu_ps(mask, grad + i);
    if (decays) g = _mm512_add_ps(g, cpu::Rounded(_mm512_mul_ps(decay_vector, v)));
    _mm512_mask_storeu_ps(var + i, mask,
                          _mm512_add_ps(v, cpu::Rounded(_mm512_mul_ps(lr_vector, g))));
  }
}

// g = grad + wd·var; var -= lr·g.
template <typename T>
struct SgdUpdateKernel {
  static absl::Status Compute(KernelContext& context) {
    const double lr = ReadScalar(context.input(2));
    SBP_ASSIGN_OR_RETURN(double weight_decay, context.attrs().GetFloat("weight_decay"));
    T* var = context.input(0).data<T>();
    const T* grad = context.input(1).data<T>();
    const int64_t count = context.input(0).num_elements();
    const T negative_lr = static_cast<T>(-lr);
    const T decay = static_cast<T>(weight_decay);
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::HasAvx512()) {
        SgdAvx512(var, grad, count, negative_lr, decay, weight_decay != 0);
        return absl::OkStatus();
      }
    }
    if (weight_decay != 0) {
      for (int64_t i = 0; i < count; ++i) var[i] += negative_lr * (grad[i] + decay * var[i]);
    } else {
      for (int64_t i = 0; i < count; ++i) var[i] += negative_lr * grad[i];
    }
    return absl::OkStatus();
  }
};

// g = grad + wd·var; v = μ·v + g; var -= lr·(nesterov ? g + μ·v : v). With v
// starting at zero the first step gives v = g, as PyTorch's buffer clone.
template <typename T>
struct MomentumUpdateKernel {
  static absl::Status Compute(KernelContext& context) {
    const double lr = ReadScalar(context.input(3));
    SBP_ASSIGN_OR_RETURN(double momentum_attr, context.attrs().GetFloat("momentum"));
    SBP_ASSIGN_OR_RETURN(bool nesterov, context.attrs().GetBool("nesterov"));
    SBP_ASSIGN_OR_RETURN(double weight_decay, context.attrs().GetFloat("weight_decay"));
    T* var = context.input(0).data<T>();
    const T* grad = context.input(1).data<T>();
    T* velocity = context.input(2).data<T>();
    const int64_t count = context.input(0).num_elements();
    const T negative_lr = static_cast<T>(-lr);
    const T momentum = static_cast<T>(momentum_attr);
    const T decay = static_cast<T>(weight_decay);
    const bool decays = weight_decay != 0;
    for (int64_t i = 0; i < count; ++i) {
      const T g = decays ? grad[i] + decay * var[i] : grad[i];
      velocity[i] = velocity[i] * momentum + g;
      const T step = nesterov ? g + momentum * velocity[i] : velocity[i];
      var[i] += negative_lr * step;
    }
    return absl::OkStatus();
  }
};

struct AdamCoefficients {
  float negative_step_size;
  float bias_correction2_sqrt;
  float epsilon;
  float decay;
  float shrink;
  bool coupled_decay;
  bool decoupled_decay;
  float weight;
  bool small_weight;
  float beta2;
  float one_minus_beta2;
};

SBP_AVX512 void AdamAvx512(float* var, const float* grad, float* m, float* v, int64_t count,
                           const AdamCoefficients& k) {
  const __m512 negative_step_size = _mm512_set1_ps(k.negative_step_size);
  const __m512 bias_correction2_sqrt = _mm512_set1_ps(k.bias_correction2_sqrt);
  const __m512 epsilon = _mm512_set1_ps(k.epsilon);
  const __m512 decay = _mm512_set1_ps(k.decay);
  const __m512 shrink = _mm512_set1_ps(k.shrink);
  const __m512 weight = _mm512_set1_ps(k.weight);
  const __m512 one_minus_weight = _mm512_set1_ps(1 - k.weight);
  const __m512 beta2 = _mm512_set1_ps(k.beta2);
  const __m512 one_minus_beta2 = _mm512_set1_ps(k.one_minus_beta2);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 mask = cpu::TailMask(count - i);
    __m512 var_values = _mm512_maskz_loadu_ps(mask, var + i);
    __m512 g = _mm512_maskz_loadu_ps(mask, grad + i);
    const __m512 m_old = _mm512_maskz_loadu_ps(mask, m + i);
    const __m512 v_old = _mm512_maskz_loadu_ps(mask, v + i);
    if (k.coupled_decay) g = _mm512_add_ps(g, cpu::Rounded(_mm512_mul_ps(decay, var_values)));
    if (k.decoupled_decay) var_values = _mm512_mul_ps(var_values, shrink);
    const __m512 m_new =
        k.small_weight
            ? _mm512_add_ps(m_old, cpu::Rounded(_mm512_mul_ps(weight, _mm512_sub_ps(g, m_old))))
            : _mm512_sub_ps(
                  g, cpu::Rounded(_mm512_mul_ps(_mm512_sub_ps(g, m_old), one_minus_weight)));
    const __m512 v_new =
        _mm512_add_ps(cpu::Rounded(_mm512_mul_ps(v_old, beta2)),
                      cpu::Rounded(_mm512_mul_ps(_mm512_mul_ps(one_minus_beta2, g), g)));
    const __m512 denominator =
        _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v_new), bias_correction2_sqrt), epsilon);
    const __m512 step = _mm512_div_ps(_mm512_mul_ps(negative_step_size, m_new), denominator);
    _mm512_mask_storeu_ps(m + i, mask, m_new);
    _mm512_mask_storeu_ps(v + i, mask, v_new);
    _mm512_mask_storeu_ps(var + i, mask, _mm512_add_ps(var_values, step));
  }
}

// t = step + 1. Adam: g = grad + wd·var. AdamW (decoupled): var *= 1 - lr·wd.
// m = lerp(m, g, 1 - β1); v = β2·v + (1 - β2)·g²;
// var -= lr / (1 - β1^t) · m / (√v / √(1 - β2^t) + ε).
template <typename T>
struct AdamUpdateKernel {
  static absl::Status Compute(KernelContext& context) {
    const AttrMap& attrs = context.attrs();
    const double lr = ReadScalar(context.input(5));
    SBP_ASSIGN_OR_RETURN(double beta1, attrs.GetFloat("beta1"));
    SBP_ASSIGN_OR_RETURN(double beta2, attrs.GetFloat("beta2"));
    SBP_ASSIGN_OR_RETURN(double epsilon_attr, attrs.GetFloat("epsilon"));
    SBP_ASSIGN_OR_RETURN(double weight_decay, attrs.GetFloat("weight_decay"));
    SBP_ASSIGN_OR_RETURN(bool decoupled, attrs.GetBool("decoupled"));
    T* var = context.input(0).data<T>();
    const T* grad = context.input(1).data<T>();
    T* m = context.input(2).data<T>();
    T* v = context.input(3).data<T>();
    const double t = ReadScalar(context.input(4)) + 1;
    const int64_t count = context.input(0).num_elements();

    const double bias_correction1 = 1 - std::pow(beta1, t);
    const double bias_correction2 = 1 - std::pow(beta2, t);
    const T negative_step_size = static_cast<T>(-(lr / bias_correction1));
    const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
    const T epsilon = static_cast<T>(epsilon_attr);
    const T decay = static_cast<T>(weight_decay);
    const T shrink = static_cast<T>(1 - lr * weight_decay);
    const bool coupled_decay = weight_decay != 0 && !decoupled;
    const bool decoupled_decay = weight_decay != 0 && decoupled;
    // torch.lerp switches formulas at weight 0.5 to stay exact at both ends.
    const T weight = static_cast<T>(1 - beta1);
    const bool small_weight = 1 - beta1 < 0.5;
    const T beta2_value = static_cast<T>(beta2);
    const T one_minus_beta2 = static_cast<T>(1 - beta2);
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::HasAvx512()) {
        AdamAvx512(var, grad, m, v, count,
                   {negative_step_size, bias_correction2_sqrt, epsilon, decay, shrink,
                    coupled_decay, decoupled_decay, weight, small_weight, beta2_value,
                    one_minus_beta2});
        return absl::OkStatus();
      }
    }
    for (int64_t i = 0; i < count; ++i) {
      const T g = coupled_decay ? grad[i] + decay * var[i] : grad[i];
      if (decoupled_decay) var[i] *= shrink;
      m[i] = small_weight ? m[i] + weight * (g - m[i]) : g - (g - m[i]) * (1 - weight);
      v[i] = v[i] * beta2_value + one_minus_beta2 * g * g;
      const T denominator = std::sqrt(v[i]) / bias_correction2_sqrt + epsilon;
      var[i] += negative_step_size * m[i] / denominator;
    }
    return absl::OkStatus();
  }
};

template <typename T>
struct IncrementStepKernel {
  static absl::Status Compute(KernelContext& context) {
    context.input(0).data<T>()[0] += 1;
    return absl::OkStatus();
  }
};

// min(1, clip_norm / (√sum_squares + 1e-6)). PyTorch evaluates the division
// `max_norm / tensor` as reciprocal(tensor) · max_norm; so does this kernel.
template <typename T>
struct ClipFactorKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(double clip_norm, context.attrs().GetFloat("clip_norm"));
    const T norm = std::sqrt(context.input(0).data<T>()[0]);
    const T factor = (T{1} / (norm + static_cast<T>(1e-6))) * static_cast<T>(clip_norm);
    // std::min(factor, 1) keeps a NaN factor NaN, as torch.clamp does.
    context.output(0).data<T>()[0] = std::min(factor, T{1});
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterOptimizerCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<SgdUpdateKernel>(registry, "SgdUpdate"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<MomentumUpdateKernel>(registry, "MomentumUpdate"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<AdamUpdateKernel>(registry, "AdamUpdate"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<IncrementStepKernel>(registry, "IncrementStep"));
  return RegisterFloatingCpuKernels<ClipFactorKernel>(registry, "ClipFactor");
}

}  // namespace sbpflow
