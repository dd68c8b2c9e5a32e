// Local boxing steps inserted by lowering (kernel-only ops, no graph op):
// BoxingSlice copies the output box out of the input box; BoxingZeroFill
// writes zeros over the output box and, when `keep`, the input's elements.
// Boxes are attrs "input_box" / "output_box" flattened as [begin0, end0,
// begin1, end1, ...] in logical coordinates.
#include "base/box.h"
#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"

namespace sbpflow {
namespace {

absl::StatusOr<Box> BoxAttr(const AttrMap& attrs, absl::string_view name) {
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> flat, attrs.GetIntList(name));
  Box box;
  for (size_t i = 0; i + 1 < flat.size(); i += 2) box.push_back(Interval{flat[i], flat[i + 1]});
  return box;
}

absl::Status SliceKernel(KernelContext& context) {
  SBP_ASSIGN_OR_RETURN(Box input_box, BoxAttr(context.attrs(), "input_box"));
  SBP_ASSIGN_OR_RETURN(Box output_box, BoxAttr(context.attrs(), "output_box"));
  const Tensor& in = context.input(0);
  CopyRegion(in.raw_data(), input_box, context.output(0).raw_data(), output_box, output_box,
             DataTypeSize(in.dtype()));
  return absl::OkStatus();
}

absl::Status ZeroFillKernel(KernelContext& context) {
  SBP_ASSIGN_OR_RETURN(Box input_box, BoxAttr(context.attrs(), "input_box"));
  SBP_ASSIGN_OR_RETURN(Box output_box, BoxAttr(context.attrs(), "output_box"));
  SBP_ASSIGN_OR_RETURN(bool keep, context.attrs().GetBool("keep"));
  Tensor& out = context.output(0);
  out.SetZero();
  if (!keep) return absl::OkStatus();
  const Tensor& in = context.input(0);
  std::optional<Box> region = IntersectBoxes(input_box, output_box);
  if (region.has_value()) {
    CopyRegion(in.raw_data(), input_box, out.raw_data(), output_box, *region,
               DataTypeSize(in.dtype()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterBoxingCpuKernels(KernelRegistry& registry) {
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                         DataType::kInt64, DataType::kBool}) {
    SBP_RETURN_IF_ERROR(
        registry.Register(KernelKey{"BoxingSlice", DeviceType::kCpu, dtype}, SliceKernel));
    SBP_RETURN_IF_ERROR(
        registry.Register(KernelKey{"BoxingZeroFill", DeviceType::kCpu, dtype}, ZeroFillKernel));
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
