// CPU kernels of Softmax, LogSoftmax, SoftmaxCrossEntropy and their gradients.
//
// Every reduction subtracts the maximum of its slice first, so large logits
// (1000, 1001, ...) never overflow exp. Sums accumulate in double so that f32
// results do not depend on the length of the axis more than necessary.
//
// On AVX-512 CPUs, f32 rows along a contiguous last axis take vector paths
// that compute the same expressions (exp through avx512.h, sums in double).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernel/cpu/avx512.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

// A tensor viewed as [outer, size, inner] around the softmax axis: element
// (o, k, i) lies at (o * size + k) * inner + i.
struct AxisView {
  int64_t outer = 1;
  int64_t size = 1;
  int64_t inner = 1;
};

absl::StatusOr<AxisView> ViewAroundAxis(const KernelContext& context, const Shape& shape) {
  SBP_ASSIGN_OR_RETURN(int64_t attr, context.attrs().GetInt("axis"));
  const int axis = NormalizeAxis(attr, shape.rank());
  if (axis < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'axis' ", attr, " is out of range for shape ", shape.ToString()));
  }
  return AxisView{shape.NumElements(0, axis), shape.dim(axis),
                  shape.NumElements(axis + 1, shape.rank())};
}

// Calls body(base) for every slice along the axis; element k of the slice is
// at base + k * view.inner.
template <typename Body>
void ForEachSlice(const AxisView& view, Body body) {
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t i = 0; i < view.inner; ++i) body(o * view.size * view.inner + i);
  }
}

template <typename T>
T SliceMax(const T* x, int64_t base, const AxisView& view) {
  T max = x[base];
  for (int64_t k = 1; k < view.size; ++k) max = std::max(max, x[base + k * view.inner]);
  return max;
}

SBP_AVX512 float RowMaxAvx512(const float* x, int64_t size) {
  __m512 max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t k = 0; k < size; k += 16) {
    const __mmask16 mask = cpu::TailMask(size - k);
    max = _mm512_mask_max_ps(max, mask, max, _mm512_maskz_loadu_ps(mask, x + k));
  }
  return _mm512_reduce_max_ps(max);
}

// y = softmax(x) for `rows` contiguous rows of `size`.
SBP_AVX512 void SoftmaxRowsAvx512(const float* x, float* y, int64_t rows, int64_t size) {
  for (int64_t row = 0; row < rows; ++row) {
    const float* x_row = x + row * size;
    float* y_row = y + row * size;
    const __m512 max = _mm512_set1_ps(RowMaxAvx512(x_row, size));
    __m512d sum = _mm512_setzero_pd();
    for (int64_t k = 0; k < size; k += 16) {
      const __mmask16 mask = cpu::TailMask(size - k);
      const __m512 e = cpu::Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x_row + k), max));
      _mm512_mask_storeu_ps(y_row + k, mask, e);
      sum = _mm512_add_pd(sum, cpu::WidenAndFold(_mm512_maskz_mov_ps(mask, e)));
    }
    const __m512 inverse = _mm512_set1_ps(static_cast<float>(1.0 / _mm512_reduce_add_pd(sum)));
    for (int64_t k = 0; k < size; k += 16) {
      const __mmask16 mask = cpu::TailMask(size - k);
      _mm512_mask_storeu_ps(y_row + k, mask,
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, y_row + k), inverse));
    }
  }
}

// dx = y (dy - Σ dy·y) for contiguous rows; the dot product in double.
SBP_AVX512 void SoftmaxGradRowsAvx512(const float* dy, const float* y, float* dx, int64_t rows,
                                      int64_t size) {
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t base = row * size;
    __m512d dot = _mm512_setzero_pd();
    for (int64_t k = 0; k < size; k += 8) {
      const __mmask8 mask = static_cast<__mmask8>(cpu::TailMask(size - k));
      const __m512d dy_values = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, dy + base + k));
      const __m512d y_values = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, y + base + k));
      dot = _mm512_add_pd(dot, _mm512_mul_pd(dy_values, y_values));
    }
    const __m512 total = _mm512_set1_ps(static_cast<float>(_mm512_reduce_add_pd(dot)));
    for (int64_t k = 0; k < size; k += 16) {
      const __mmask16 mask = cpu::TailMask(size - k);
      const __m512 y_values = _mm512_maskz_loadu_ps(mask, y + base + k);
      const __m512 dy_values = _mm512_maskz_loadu_ps(mask, dy + base + k);
      _mm512_mask_storeu_ps(dx + base + k, mask,
                            _mm512_mul_ps(y_values, _mm512_sub_ps(dy_values, total)));
    }
  }
}

template <typename T>
struct SoftmaxKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& input = context.input(0);
    SBP_ASSIGN_OR_RETURN(AxisView view, ViewAroundAxis(context, input.shape()));
    if (view.size == 0) return absl::OkStatus();
    const T* x = input.data<T>();
    T* y = context.output(0).data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (view.inner == 1 && cpu::HasAvx512()) {
        SoftmaxRowsAvx512(x, y, view.outer, view.size);
        return absl::OkStatus();
      }
    }
    const int64_t stride = view.inner;
    ForEachSlice(view, [&](int64_t base) {
      const T max = SliceMax(x, base, view);
      double sum = 0;
      for (int64_t k = 0; k < view.size; ++k) {
        const T e = std::exp(x[base + k * stride] - max);
        y[base + k * stride] = e;
        sum += e;
      }
      const T inverse = static_cast<T>(1.0 / sum);
      for (int64_t k = 0; k < view.size; ++k) y[base + k * stride] *= inverse;
    });
    return absl::OkStatus();
  }
};

template <typename T>
struct LogSoftmaxKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& input = context.input(0);
    SBP_ASSIGN_OR_RETURN(AxisView view, ViewAroundAxis(context, input.shape()));
    if (view.size == 0) return absl::OkStatus();
    const T* x = input.data<T>();
    T* y = context.output(0).data<T>();
    const int64_t stride = view.inner;
    ForEachSlice(view, [&](int64_t base) {
      const T max = SliceMax(x, base, view);
      double sum = 0;
      for (int64_t k = 0; k < view.size; ++k) sum += std::exp(x[base + k * stride] - max);
      const T log_sum = static_cast<T>(std::log(sum));
      for (int64_t k = 0; k < view.size; ++k) {
        y[base + k * stride] = (x[base + k * stride] - max) - log_sum;
      }
    });
    return absl::OkStatus();
  }
};

// dx = y (dy - Σ dy·y).
template <typename T>
struct SoftmaxGradKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& y_tensor = context.input(1);
    SBP_ASSIGN_OR_RETURN(AxisView view, ViewAroundAxis(context, y_tensor.shape()));
    const T* dy = context.input(0).data<T>();
    const T* y = y_tensor.data<T>();
    T* dx = context.output(0).data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (view.inner == 1 && cpu::HasAvx512()) {
        SoftmaxGradRowsAvx512(dy, y, dx, view.outer, view.size);
        return absl::OkStatus();
      }
    }
    const int64_t stride = view.inner;
    ForEachSlice(view, [&](int64_t base) {
      double dot = 0;
      for (int64_t k = 0; k < view.size; ++k) {
        dot += static_cast<double>(dy[base + k * stride]) * y[base + k * stride];
      }
      const T total = static_cast<T>(dot);
      for (int64_t k = 0; k < view.size; ++k) {
        const int64_t at = base + k * stride;
        dx[at] = y[at] * (dy[at] - total);
      }
    });
    return absl::OkStatus();
  }
};

// dx = dy - exp(y) Σ dy.
template <typename T>
struct LogSoftmaxGradKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& y_tensor = context.input(1);
    SBP_ASSIGN_OR_RETURN(AxisView view, ViewAroundAxis(context, y_tensor.shape()));
    const T* dy = context.input(0).data<T>();
    const T* y = y_tensor.data<T>();
    T* dx = context.output(0).data<T>();
    const int64_t stride = view.inner;
    ForEachSlice(view, [&](int64_t base) {
      double sum = 0;
      for (int64_t k = 0; k < view.size; ++k) sum += dy[base + k * stride];
      const T total = static_cast<T>(sum);
      for (int64_t k = 0; k < view.size; ++k) {
        const int64_t at = base + k * stride;
        dx[at] = dy[at] - std::exp(y[at]) * total;
      }
    });
    return absl::OkStatus();
  }
};

// Reads the labels (i32 or i64) as int64 and checks each against [0, classes).
absl::StatusOr<std::vector<int64_t>> ReadLabels(const Tensor& labels, int64_t classes) {
  std::vector<int64_t> values(labels.num_elements());
  for (int64_t n = 0; n < labels.num_elements(); ++n) {
    values[n] =
        labels.dtype() == DataType::kInt32 ? labels.data<int32_t>()[n] : labels.data<int64_t>()[n];
    if (values[n] < 0 || values[n] >= classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", values[n], " at index ", n, " is outside [0, ", classes, ")"));
    }
  }
  return values;
}

// The divisor of the mean: the `count` attr, or the number of local labels.
absl::StatusOr<double> MeanDivisor(const KernelContext& context, int64_t num_labels) {
  SBP_ASSIGN_OR_RETURN(int64_t count, context.attrs().GetInt("count"));
  return static_cast<double>(count > 0 ? count : num_labels);
}

// Σ_c e^(x[c] - max) of a row, exp and sum in double.
SBP_AVX512 double RowExpSumAvx512(const float* x, int64_t classes, float max) {
  const __m256 max_vector = _mm256_set1_ps(max);
  __m512d sum = _mm512_setzero_pd();
  for (int64_t c = 0; c < classes; c += 8) {
    const __mmask8 mask = static_cast<__mmask8>(cpu::TailMask(classes - c));
    const __m256 shifted = _mm256_sub_ps(_mm256_maskz_loadu_ps(mask, x + c), max_vector);
    sum = _mm512_add_pd(sum, _mm512_maskz_mov_pd(mask, cpu::ExpDouble(_mm512_cvtps_pd(shifted))));
  }
  return _mm512_reduce_add_pd(sum);
}

// The cross-entropy of contiguous rows of logits: Σ_rows logsumexp - x[label].
SBP_AVX512 double CrossEntropySumAvx512(const float* logits, const std::vector<int64_t>& labels,
                                        int64_t classes) {
  double total = 0;
  for (size_t row = 0; row < labels.size(); ++row) {
    const float* x = logits + row * classes;
    const float max = RowMaxAvx512(x, classes);
    const double sum = RowExpSumAvx512(x, classes, max);
    total += std::log(sum) - static_cast<double>(x[labels[row]] - max);
  }
  return total;
}

// dlogits = (softmax(logits) - onehot(labels)) · scale, as the portable loop:
// e in double, stored as f32, then scaled by scale / Σ e in double.
SBP_AVX512 void CrossEntropyGradAvx512(const float* logits, const std::vector<int64_t>& labels,
                                       int64_t classes, double scale, float* dlogits) {
  for (size_t row = 0; row < labels.size(); ++row) {
    const float* x = logits + row * classes;
    float* dx = dlogits + row * classes;
    const __m256 max = _mm256_set1_ps(RowMaxAvx512(x, classes));
    __m512d sum = _mm512_setzero_pd();
    for (int64_t c = 0; c < classes; c += 8) {
      const __mmask8 mask = static_cast<__mmask8>(cpu::TailMask(classes - c));
      const __m256 shifted = _mm256_sub_ps(_mm256_maskz_loadu_ps(mask, x + c), max);
      const __m512d e = _mm512_maskz_mov_pd(mask, cpu::ExpDouble(_mm512_cvtps_pd(shifted)));
      _mm256_mask_storeu_ps(dx + c, mask, _mm512_cvtpd_ps(e));
      sum = _mm512_add_pd(sum, e);
    }
    const __m512d factor = _mm512_set1_pd(scale / _mm512_reduce_add_pd(sum));
    for (int64_t c = 0; c < classes; c += 8) {
      const __mmask8 mask = static_cast<__mmask8>(cpu::TailMask(classes - c));
      const __m512d e = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(mask, dx + c));
      _mm256_mask_storeu_ps(dx + c, mask, _mm512_cvtpd_ps(_mm512_mul_pd(e, factor)));
    }
    dx[labels[row]] = static_cast<float>(dx[labels[row]] - scale);
  }
}

// loss = Σ_rows (logsumexp(row) - row[label]) / count. With no rows (an
// empty local shard) the loss is 0 rather than 0/0.
template <typename T>
struct SoftmaxCrossEntropyKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& logits_tensor = context.input(0);
    const int64_t classes = logits_tensor.shape().dim(logits_tensor.shape().rank() - 1);
    SBP_ASSIGN_OR_RETURN(std::vector<int64_t> labels, ReadLabels(context.input(1), classes));
    const int64_t rows = static_cast<int64_t>(labels.size());
    SBP_ASSIGN_OR_RETURN(double divisor, MeanDivisor(context, rows));
    const T* logits = logits_tensor.data<T>();
    double total = 0;
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::HasAvx512()) {
        total = CrossEntropySumAvx512(logits, labels, classes);
        context.output(0).data<T>()[0] = static_cast<T>(rows == 0 ? 0.0 : total / divisor);
        return absl::OkStatus();
      }
    }
    for (int64_t row = 0; row < rows; ++row) {
      const T* x = logits + row * classes;
      T max = x[0];
      for (int64_t c = 1; c < classes; ++c) max = std::max(max, x[c]);
      double sum = 0;
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(x[c] - max));
      total += std::log(sum) - static_cast<double>(x[labels[row]] - max);
    }
    context.output(0).data<T>()[0] = static_cast<T>(rows == 0 ? 0.0 : total / divisor);
    return absl::OkStatus();
  }
};

// dlogits = (softmax(logits) - onehot(labels)) · dloss / count.
template <typename T>
struct SoftmaxCrossEntropyGradKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& logits_tensor = context.input(1);
    const int64_t classes = logits_tensor.shape().dim(logits_tensor.shape().rank() - 1);
    SBP_ASSIGN_OR_RETURN(std::vector<int64_t> labels, ReadLabels(context.input(2), classes));
    const int64_t rows = static_cast<int64_t>(labels.size());
    if (rows == 0) return absl::OkStatus();
    SBP_ASSIGN_OR_RETURN(double divisor, MeanDivisor(context, rows));
    const double scale = static_cast<double>(context.input(0).data<T>()[0]) / divisor;
    const T* logits = logits_tensor.data<T>();
    T* dlogits = context.output(0).data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::HasAvx512()) {
        CrossEntropyGradAvx512(logits, labels, classes, scale, dlogits);
        return absl::OkStatus();
      }
    }
    for (int64_t row = 0; row < rows; ++row) {
      const T* x = logits + row * classes;
      T* dx = dlogits + row * classes;
      T max = x[0];
      for (int64_t c = 1; c < classes; ++c) max = std::max(max, x[c]);
      double sum = 0;
      for (int64_t c = 0; c < classes; ++c) {
        const double e = std::exp(static_cast<double>(x[c] - max));
        dx[c] = static_cast<T>(e);
        sum += e;
      }
      const double factor = scale / sum;
      for (int64_t c = 0; c < classes; ++c) dx[c] = static_cast<T>(dx[c] * factor);
      dx[labels[row]] = static_cast<T>(dx[labels[row]] - scale);
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterSoftmaxCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<SoftmaxKernel>(registry, "Softmax"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<LogSoftmaxKernel>(registry, "LogSoftmax"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<SoftmaxGradKernel>(registry, "SoftmaxGrad"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<LogSoftmaxGradKernel>(registry, "LogSoftmaxGrad"));
  SBP_RETURN_IF_ERROR(
      RegisterFloatingCpuKernels<SoftmaxCrossEntropyKernel>(registry, "SoftmaxCrossEntropy"));
  return RegisterFloatingCpuKernels<SoftmaxCrossEntropyGradKernel>(registry,
                                                                   "SoftmaxCrossEntropyGrad");
}

}  // namespace sbpflow
