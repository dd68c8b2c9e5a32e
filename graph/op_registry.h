// The op registry: for every op its schema (inputs, attrs), shape and dtype
// inference, gradient builder and FLOP estimate.
//
// A registry is built once by the caller (BuildBuiltinOpRegistry in
// graph/ops/builtin_ops.h) and then only read; concurrent reads are safe.
#ifndef SBPFLOW_GRAPH_OP_REGISTRY_H_
#define SBPFLOW_GRAPH_OP_REGISTRY_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/attr_value.h"
#include "base/shape.h"

namespace sbpflow {

class GradientContext;

struct InputSpec {
  std::string name;
  // A variadic input takes one or more tensors; only the last input may be.
  bool variadic = false;
};

struct AttrSpec {
  std::string name;
  AttrType type = AttrType::kInt;
  // Absent = the attr is required.
  std::optional<AttrValue> default_value;
};

// What shape inference and FLOP estimates see of a node.
struct InferenceContext {
  absl::string_view node_name;
  const std::vector<TensorType>& inputs;
  // Attrs with defaults filled in and types checked.
  const AttrMap& attrs;
};

// Returns the output types, or InvalidArgument with a message that names the
// offending input or attr (the caller adds file and node).
using ShapeFn = std::function<absl::StatusOr<std::vector<TensorType>>(const InferenceContext&)>;

// Adds the nodes computing input gradients from output gradients.
using GradientFn = std::function<absl::Status(GradientContext&)>;

// Floating-point operations of one execution of the node.
using FlopsFn = std::function<int64_t(const InferenceContext&, const std::vector<TensorType>&)>;

struct OpDef {
  std::string name;
  std::vector<InputSpec> inputs;
  std::vector<AttrSpec> attrs;
  ShapeFn infer;
  // Null: gradients cannot flow through this op; autodiff reports an error
  // when a floating-point input needs one (integer inputs never do).
  GradientFn gradient;
  // Null: one FLOP per element of output 0.
  FlopsFn flops;
  // Input positions the op writes in place (optimizer updates). The runtime
  // runs such an op only after every other reader of the input is done.
  std::vector<int> mutable_inputs;
};

class OpRegistry {
 public:
  OpRegistry() = default;
  OpRegistry(const OpRegistry&) = delete;
  OpRegistry& operator=(const OpRegistry&) = delete;
  OpRegistry(OpRegistry&&) = default;
  OpRegistry& operator=(OpRegistry&&) = default;

  // Adds an op. Returns AlreadyExists for a duplicate name and InvalidArgument
  // for a definition without an inference function.
  absl::Status Register(OpDef def);

  // Null when the op is unknown.
  const OpDef* Find(absl::string_view name) const;

  std::vector<std::string> OpNames() const;

 private:
  std::map<std::string, OpDef, std::less<>> ops_;
};

// Checks a node's inputs count and attrs against its schema, fills in
// default attrs, and infers the output types. `node_name` is for messages only.
// Errors: InvalidArgument "input count ...", "attr 'x' ...", the ShapeFn's
// message, or a shape attr or output of more than 2^60 elements (so element
// and byte counts never overflow int64).
absl::StatusOr<std::vector<TensorType>> InferOutputs(const OpDef& def, absl::string_view node_name,
                                                     const std::vector<TensorType>& inputs,
                                                     AttrMap& attrs);

// FLOPs of one node execution given its input and output types.
int64_t EstimateFlops(const OpDef& def, absl::string_view node_name,
                      const std::vector<TensorType>& inputs, const AttrMap& attrs,
                      const std::vector<TensorType>& outputs);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_OP_REGISTRY_H_
