// Helpers shared by op definitions: input checks for shape functions and
// gradient building blocks.
#ifndef SBPFLOW_GRAPH_OPS_OP_UTIL_H_
#define SBPFLOW_GRAPH_OPS_OP_UTIL_H_

#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/shape.h"
#include "graph/autodiff.h"
#include "graph/graph_builder.h"
#include "graph/op_registry.h"

namespace sbpflow {

// InvalidArgument "input 'NAME' must be floating point, got i32[3]" etc.
absl::Status ExpectFloating(const TensorType& type, absl::string_view input_name);
absl::Status ExpectInteger(const TensorType& type, absl::string_view input_name);
absl::Status ExpectRank(const TensorType& type, int rank, absl::string_view input_name);
absl::Status ExpectSameDataType(const TensorType& a, absl::string_view a_name, const TensorType& b,
                                absl::string_view b_name);

// NumPy-style broadcast of two shapes; InvalidArgument naming both shapes
// when they are incompatible.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// Shape function of ops with one output shaped and typed like input 0.
absl::StatusOr<std::vector<TensorType>> SameAsFirstInput(const InferenceContext& context);

// Sums `grad` (shaped like a broadcast result) down to `target` (a shape that
// was broadcast to it): ReduceSum over the broadcast axes, then Reshape.
absl::StatusOr<TensorRef> ReduceToShape(GraphBuilder& builder, TensorRef grad,
                                        const Shape& target);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_OPS_OP_UTIL_H_
