// Kernel-only ops inserted by lowering and plan passes (no graph op). Local
// boxing steps:
// BoxingSlice copies the output box out of the input box; BoxingZeroFill
// writes zeros over the output box and, when `keep`, the input's elements.
// Boxes are attrs "input_box" / "output_box" flattened as [begin0, end0,
// begin1, end1, ...] in logical coordinates. Gradient buckets (sbp/bucketing.h):
// PackFlat concatenates its flattened inputs; UnpackFlat splits them back.
#include <cstring>

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

// Concatenates its inputs, flattened, into its 1-D output.
absl::Status PackFlatKernel(KernelContext& context) {
  char* out = static_cast<char*>(context.output(0).raw_data());
  for (int input = 0; input < context.num_inputs(); ++input) {
    const Tensor& piece = context.input(input);
    if (piece.num_bytes() > 0) std::memcpy(out, piece.raw_data(), piece.num_bytes());
    out += piece.num_bytes();
  }
  return absl::OkStatus();
}

// Splits its 1-D input into its outputs, in order.
absl::Status UnpackFlatKernel(KernelContext& context) {
  const char* in = static_cast<const char*>(context.input(0).raw_data());
  for (int output = 0; output < context.num_outputs(); ++output) {
    Tensor& piece = context.output(output);
    if (piece.num_bytes() > 0) std::memcpy(piece.raw_data(), in, piece.num_bytes());
    in += piece.num_bytes();
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
    SBP_RETURN_IF_ERROR(
        registry.Register(KernelKey{"PackFlat", DeviceType::kCpu, dtype}, PackFlatKernel));
    SBP_RETURN_IF_ERROR(
        registry.Register(KernelKey{"UnpackFlat", DeviceType::kCpu, dtype}, UnpackFlatKernel));
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
