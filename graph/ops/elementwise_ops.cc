// SCAFFOLD: to be written (see docs/ops.md).
#include "graph/ops/builtin_ops.h"

namespace sbpflow {

absl::Status RegisterElementwiseOps(OpRegistry& registry) { return absl::OkStatus(); }

}  // namespace sbpflow
