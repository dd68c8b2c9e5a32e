// What one boxing step becomes on the devices: collective participants (one
// CollectiveSpec per member of every group) or local kernels (BoxingSlice /
// BoxingZeroFill with their attrs). Shared by lowering and by tests that run
// boxing plans directly on a communicator.
#ifndef SBPFLOW_SBP_BOXING_STEP_LOWERING_H_
#define SBPFLOW_SBP_BOXING_STEP_LOWERING_H_

#include <functional>
#include <string>
#include <vector>

#include "base/attr_value.h"
#include "base/collective.h"
#include "sbp/boxing/boxing_plan.h"

namespace sbpflow {

struct LocalStepOp {
  Device device;
  std::string type;  // "BoxingSlice" or "BoxingZeroFill"
  AttrMap attrs;
  Box input_box;
  Box output_box;
};

// The local kernels of a local step (slice or zero_fill), one per device of
// the destination placement.
std::vector<LocalStepOp> LocalStepOps(const BoxingStep& step, const Shape& shape);

// The participants of a collective step: per group, one spec per member
// (rank set). `device_index` maps a device to its plan index; `key` prefixes
// the collectives' keys.
std::vector<std::vector<CollectiveSpec>> CollectiveStepSpecs(
    const BoxingStep& step, const Shape& shape, DataType dtype, const std::string& key,
    const std::function<int(const Device&)>& device_index);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_BOXING_STEP_LOWERING_H_
