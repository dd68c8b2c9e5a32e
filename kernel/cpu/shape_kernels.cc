// Shape kernels: Reshape, Transpose, Concat and Split move bytes, so one
// kernel serves every dtype.
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/strided_copy.h"

namespace sbpflow {
namespace {

constexpr DataType kAllDataTypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                                      DataType::kInt64, DataType::kBool};

// The output is a separate preallocated buffer, so even a reshape copies.
absl::Status ReshapeKernel(KernelContext& context) {
  const Tensor& in = context.input(0);
  if (in.num_bytes() > 0) std::memcpy(context.output(0).raw_data(), in.raw_data(), in.num_bytes());
  return absl::OkStatus();
}

absl::Status TransposeKernel(KernelContext& context) {
  const Tensor& in = context.input(0);
  Tensor& out = context.output(0);
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> perm, context.attrs().GetIntList("perm"));
  const int rank = in.shape().rank();
  if (static_cast<int>(perm.size()) != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'perm' has ", perm.size(), " entries for rank ", rank));
  }
  const std::vector<int64_t> in_strides = RowMajorStrides(in.shape());
  std::vector<int64_t> gather_strides(rank);
  for (int axis = 0; axis < rank; ++axis) {
    const int source = NormalizeAxis(perm[axis], rank);
    if (source < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("attr 'perm': axis ", perm[axis], " is out of range for rank ", rank));
    }
    gather_strides[axis] = in_strides[source];
  }
  cpu::StridedCopy(in.raw_data(), out.raw_data(), out.shape().dims(), gather_strides,
                   DataTypeSize(in.dtype()));
  return absl::OkStatus();
}

// The byte length of one slab of `shape` from `axis` on: everything at or
// after the axis, for one index of the axes before it.
int64_t SlabBytes(const Tensor& tensor, int axis) {
  const Shape& shape = tensor.shape();
  return shape.NumElements(axis, shape.rank()) * DataTypeSize(tensor.dtype());
}

absl::StatusOr<int> GetAxis(const KernelContext& context, int rank) {
  SBP_ASSIGN_OR_RETURN(int64_t axis, context.attrs().GetInt("axis"));
  const int normalized = NormalizeAxis(axis, rank);
  if (normalized < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'axis' ", axis, " is out of range for rank ", rank));
  }
  return normalized;
}

// For every index of the axes before `axis`, the inputs' slabs follow each
// other in the output.
absl::Status ConcatKernel(KernelContext& context) {
  Tensor& out = context.output(0);
  SBP_ASSIGN_OR_RETURN(int axis, GetAxis(context, out.shape().rank()));
  const int64_t outer = out.shape().NumElements(0, axis);
  char* target = static_cast<char*>(out.raw_data());
  for (int64_t index = 0; index < outer; ++index) {
    for (int i = 0; i < context.num_inputs(); ++i) {
      const Tensor& in = context.input(i);
      const int64_t bytes = SlabBytes(in, axis);
      if (bytes == 0) continue;
      std::memcpy(target, static_cast<const char*>(in.raw_data()) + index * bytes, bytes);
      target += bytes;
    }
  }
  return absl::OkStatus();
}

absl::Status SplitKernel(KernelContext& context) {
  const Tensor& in = context.input(0);
  SBP_ASSIGN_OR_RETURN(int axis, GetAxis(context, in.shape().rank()));
  const int64_t outer = in.shape().NumElements(0, axis);
  const char* source = static_cast<const char*>(in.raw_data());
  for (int64_t index = 0; index < outer; ++index) {
    for (int k = 0; k < context.num_outputs(); ++k) {
      Tensor& out = context.output(k);
      const int64_t bytes = SlabBytes(out, axis);
      if (bytes == 0) continue;
      std::memcpy(static_cast<char*>(out.raw_data()) + index * bytes, source, bytes);
      source += bytes;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterShapeCpuKernels(KernelRegistry& registry) {
  const std::pair<const char*, KernelFn> kernels[] = {{"Reshape", ReshapeKernel},
                                                      {"Transpose", TransposeKernel},
                                                      {"Concat", ConcatKernel},
                                                      {"Split", SplitKernel}};
  for (const auto& [op, kernel] : kernels) {
    for (DataType dtype : kAllDataTypes) {
      SBP_RETURN_IF_ERROR(registry.Register(KernelKey{op, DeviceType::kCpu, dtype}, kernel));
    }
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
