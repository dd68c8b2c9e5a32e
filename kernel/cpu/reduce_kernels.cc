// ReduceSum, ReduceMean and BroadcastTo.
//
// A reduction walks its input once, in memory order, over a layout collapsed
// to alternating kept and reduced axes. When the innermost axis is reduced,
// each contiguous run is summed into one output element (last-axis
// reductions); when it is kept, each run is added onto a contiguous output row
// (leading-axis reductions such as a bias gradient [N, H] -> [H], summed row
// after row). The order is fixed, so results are bit-identical run to run.
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"
#include "kernel/cpu/strided_copy.h"
#include "kernel/cpu/strided_layout.h"
#include "kernel/cpu/vector_loops.h"

namespace sbpflow {
namespace {

// For each input axis whether attr 'axes' reduces it (empty = all). The graph
// validated the attr; axes are normalized here because they may be negative.
absl::StatusOr<std::vector<bool>> ReducedAxes(const AttrMap& attrs, int rank) {
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> axes, attrs.GetIntList("axes"));
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t axis : axes) {
    const int normalized = NormalizeAxis(axis, rank);
    if (normalized < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'axes': axis ", axis, " is out of range for rank ", rank));
    }
    reduced[normalized] = true;
  }
  return reduced;
}

// Short runs skip the blocked partial sums, whose setup would dominate.
template <typename T>
T SumRun(const T* in, int64_t count) {
  if (count >= cpu::kVectorBlock) return cpu::BlockedSum(in, count);
  T total = 0;
  for (int64_t i = 0; i < count; ++i) total += in[i];
  return total;
}

// out = Σ of `in` over the reduced axes; out has the kept axes in order.
template <typename T>
void ReduceSum(const Tensor& in, const std::vector<bool>& reduced, Tensor& out) {
  T* out_data = out.data<T>();
  const T* in_data = in.data<T>();
  out.SetZero();
  if (in.num_elements() == 0) return;
  const Shape& shape = in.shape();
  const std::vector<int64_t> in_strides = RowMajorStrides(shape);
  // Output strides over the input's axes: 0 on reduced axes, row-major over
  // the kept ones.
  std::vector<int64_t> out_strides(shape.rank(), 0);
  int64_t stride = 1;
  for (int axis = shape.rank() - 1; axis >= 0; --axis) {
    if (reduced[axis]) continue;
    out_strides[axis] = stride;
    stride *= shape.dim(axis);
  }
  cpu::StridedLayout<2> layout;
  layout.dims = shape.dims();
  for (int axis = 0; axis < shape.rank(); ++axis) {
    layout.strides.push_back({in_strides[axis], out_strides[axis]});
  }
  layout = cpu::CollapseLayout(layout);
  if (layout.rank() == 0) {
    out_data[0] = in_data[0];
    return;
  }
  const int last = layout.rank() - 1;
  const int64_t length = layout.dims[last];
  if (layout.strides[last][1] == 0) {
    cpu::ForEachOuterIndex(layout, last, [&](const std::array<int64_t, 2>& offsets) {
      out_data[offsets[1]] += SumRun(in_data + offsets[0], length);
    });
  } else {
    cpu::ForEachOuterIndex(layout, last, [&](const std::array<int64_t, 2>& offsets) {
      cpu::AccumulateRow(in_data + offsets[0], out_data + offsets[1], length);
    });
  }
}

template <typename T>
struct ReduceSumKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& in = context.input(0);
    SBP_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                         ReducedAxes(context.attrs(), in.shape().rank()));
    ReduceSum<T>(in, reduced, context.output(0));
    return absl::OkStatus();
  }
};

// Divides by `count`, or by the number of elements reduced into each output
// when count is 0 (docs/ops.md: the lowering sets count to the logical count
// when the input is split).
template <typename T>
struct ReduceMeanKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& in = context.input(0);
    Tensor& out = context.output(0);
    SBP_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                         ReducedAxes(context.attrs(), in.shape().rank()));
    SBP_ASSIGN_OR_RETURN(int64_t count, context.attrs().GetIntOr("count", 0));
    if (count == 0) {
      count = 1;
      for (int axis = 0; axis < in.shape().rank(); ++axis) {
        if (reduced[axis]) count *= in.shape().dim(axis);
      }
    }
    ReduceSum<T>(in, reduced, out);
    // Division (not multiplication by 1/count) keeps a mean of equal values
    // exact. An empty reduction gives 0/0 = NaN, as in NumPy.
    const T divisor = static_cast<T>(count);
    cpu::MapInPlace(out.data<T>(), out.num_elements(),
                    [divisor](T value) { return value / divisor; });
    return absl::OkStatus();
  }
};

// Moves bytes only, so one kernel serves every dtype.
absl::Status BroadcastToKernel(KernelContext& context) {
  const Tensor& in = context.input(0);
  Tensor& out = context.output(0);
  cpu::StridedCopy(in.raw_data(), out.raw_data(), out.shape().dims(),
                   cpu::BroadcastStrides(in.shape(), out.shape().rank()), DataTypeSize(in.dtype()));
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterReduceCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<ReduceSumKernel>(registry, "ReduceSum"));
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<ReduceMeanKernel>(registry, "ReduceMean"));
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64,
                         DataType::kBool}) {
    SBP_RETURN_IF_ERROR(
        registry.Register(KernelKey{"BroadcastTo", DeviceType::kCpu, dtype}, BroadcastToKernel));
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
