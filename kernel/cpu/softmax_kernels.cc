// CPU kernels of Softmax, LogSoftmax, SoftmaxCrossEntropy and their gradients.
//
// Every reduction subtracts the maximum of its slice first, so large logits
// (1000, 1001, ...) never overflow exp. Sums accumulate in double so that f32
// results do not depend on the length of the axis more than necessary.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
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

template <typename T>
struct SoftmaxKernel {
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
