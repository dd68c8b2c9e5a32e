// Elementwise arithmetic kernels. Binary ops broadcast NumPy-style: equal
// shapes and scalar operands run one flat loop; everything else is reduced to
// a collapsed strided layout whose innermost axis runs contiguously, which
// makes the bias pattern ([N, H] op [H]) N contiguous row loops and a column
// operand ([N, H] op [N, 1]) N scalar loops.
#include <cmath>

#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"
#include "kernel/cpu/strided_layout.h"
#include "kernel/cpu/vector_loops.h"

namespace sbpflow {
namespace {

using cpu::MapBinary;
using cpu::MapBinaryScalarLeft;
using cpu::MapBinaryScalarRight;
using cpu::MapUnary;

// out = f(a, b) with a and b broadcast to out's shape.
template <typename T, typename F>
void BroadcastBinary(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const int64_t count = out.num_elements();
  if (count == 0) return;
  const T* a_data = a.data<T>();
  const T* b_data = b.data<T>();
  T* out_data = out.data<T>();
  if (a.num_elements() == count && b.num_elements() == count) {
    MapBinary(a_data, b_data, out_data, count, f);
    return;
  }
  if (a.num_elements() == count && b.num_elements() == 1) {
    MapBinaryScalarRight(a_data, b_data[0], out_data, count, f);
    return;
  }
  if (a.num_elements() == 1 && b.num_elements() == count) {
    MapBinaryScalarLeft(a_data[0], b_data, out_data, count, f);
    return;
  }
  const int rank = out.shape().rank();
  const std::vector<int64_t> out_strides = RowMajorStrides(out.shape());
  const std::vector<int64_t> a_strides = cpu::BroadcastStrides(a.shape(), rank);
  const std::vector<int64_t> b_strides = cpu::BroadcastStrides(b.shape(), rank);
  cpu::StridedLayout<3> layout;
  layout.dims = out.shape().dims();
  for (int axis = 0; axis < rank; ++axis) {
    layout.strides.push_back({out_strides[axis], a_strides[axis], b_strides[axis]});
  }
  layout = cpu::CollapseLayout(layout);
  if (layout.rank() == 0) {
    out_data[0] = f(a_data[0], b_data[0]);
    return;
  }
  const int last = layout.rank() - 1;
  const int64_t length = layout.dims[last];
  const int64_t a_step = layout.strides[last][1];
  const int64_t b_step = layout.strides[last][2];
  cpu::ForEachOuterIndex(layout, last, [&](const std::array<int64_t, 3>& offsets) {
    const T* a_row = a_data + offsets[1];
    const T* b_row = b_data + offsets[2];
    T* out_row = out_data + offsets[0];
    if (a_step == 1 && b_step == 1) {
      MapBinary(a_row, b_row, out_row, length, f);
    } else if (a_step == 1 && b_step == 0) {
      MapBinaryScalarRight(a_row, b_row[0], out_row, length, f);
    } else if (a_step == 0 && b_step == 1) {
      MapBinaryScalarLeft(a_row[0], b_row, out_row, length, f);
    } else {
      for (int64_t i = 0; i < length; ++i) out_row[i] = f(a_row[i * a_step], b_row[i * b_step]);
    }
  });
}

struct AddFunctor {
  template <typename T>
  T operator()(T a, T b) const {
    return a + b;
  }
};
struct SubFunctor {
  template <typename T>
  T operator()(T a, T b) const {
    return a - b;
  }
};
struct MulFunctor {
  template <typename T>
  T operator()(T a, T b) const {
    return a * b;
  }
};
struct DivFunctor {
  template <typename T>
  T operator()(T a, T b) const {
    return a / b;
  }
};

template <typename T, typename F>
struct BinaryKernel {
  static absl::Status Compute(KernelContext& context) {
    BroadcastBinary<T>(context.input(0), context.input(1), context.output(0), F{});
    return absl::OkStatus();
  }
};

template <typename T>
using AddKernel = BinaryKernel<T, AddFunctor>;
template <typename T>
using SubKernel = BinaryKernel<T, SubFunctor>;
template <typename T>
using MulKernel = BinaryKernel<T, MulFunctor>;
template <typename T>
using DivKernel = BinaryKernel<T, DivFunctor>;

template <typename T, typename F>
absl::Status ComputeUnary(KernelContext& context, F f) {
  const Tensor& in = context.input(0);
  MapUnary(in.data<T>(), context.output(0).data<T>(), in.num_elements(), f);
  return absl::OkStatus();
}

template <typename T>
struct NegKernel {
  static absl::Status Compute(KernelContext& context) {
    return ComputeUnary<T>(context, [](T x) { return -x; });
  }
};

template <typename T>
struct ScaleKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(double scale_attr, context.attrs().GetFloat("scale"));
    const T scale = static_cast<T>(scale_attr);
    return ComputeUnary<T>(context, [scale](T x) { return x * scale; });
  }
};

template <typename T>
struct ExpKernel {
  static absl::Status Compute(KernelContext& context) {
    return ComputeUnary<T>(context, [](T x) { return std::exp(x); });
  }
};

template <typename T>
struct LogKernel {
  static absl::Status Compute(KernelContext& context) {
    return ComputeUnary<T>(context, [](T x) { return std::log(x); });
  }
};

template <typename T>
struct SqrtKernel {
  static absl::Status Compute(KernelContext& context) {
    return ComputeUnary<T>(context, [](T x) { return std::sqrt(x); });
  }
};

template <typename T>
struct SquareKernel {
  static absl::Status Compute(KernelContext& context) {
    return ComputeUnary<T>(context, [](T x) { return x * x; });
  }
};

}  // namespace

absl::Status RegisterElementwiseCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<AddKernel>(registry, "Add"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<SubKernel>(registry, "Sub"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<MulKernel>(registry, "Mul"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<DivKernel>(registry, "Div"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<NegKernel>(registry, "Neg"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<ScaleKernel>(registry, "Scale"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<ExpKernel>(registry, "Exp"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<LogKernel>(registry, "Log"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<SqrtKernel>(registry, "Sqrt"));
  return RegisterFloatingCpuKernels<SquareKernel>(registry, "Square");
}

}  // namespace sbpflow
