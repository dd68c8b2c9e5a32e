#include "graph/graph_builder.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sbpflow {

absl::StatusOr<int> GraphBuilder::AddNode(absl::string_view op, std::vector<TensorRef> inputs,
                                          AttrMap attrs, absl::string_view name) {
  std::string unique = graph_->UniqueName(absl::StrCat(prefix_, name.empty() ? op : name));
  return AddNamedNode(std::move(unique), op, std::move(inputs), std::move(attrs));
}

absl::StatusOr<TensorRef> GraphBuilder::Add(absl::string_view op, std::vector<TensorRef> inputs,
                                            AttrMap attrs, absl::string_view name) {
  SBP_ASSIGN_OR_RETURN(int node, AddNode(op, std::move(inputs), std::move(attrs), name));
  return TensorRef{node, 0};
}

absl::StatusOr<int> GraphBuilder::AddNamedNode(std::string name, absl::string_view op,
                                               std::vector<TensorRef> inputs, AttrMap attrs) {
  if (graph_->FindNode(name).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("node '", name, "': name is used twice"));
  }
  const OpDef* def = registry_->Find(op);
  if (def == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("node '", name, "': unknown op '", op, "'"));
  }
  std::vector<TensorType> input_types;
  input_types.reserve(inputs.size());
  for (const TensorRef& input : inputs) input_types.push_back(graph_->type(input));
  auto outputs = InferOutputs(*def, name, input_types, attrs);
  if (!outputs.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", name, "' (", op, "): ", outputs.status().message()));
  }
  Node node;
  node.name = std::move(name);
  node.op = std::string(op);
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  node.outputs = *std::move(outputs);
  node.role = role_;
  node.origin = origin_;
  return graph_->AddNode(std::move(node));
}

absl::StatusOr<TensorRef> GraphBuilder::Constant(double value, DataType dtype, Shape shape,
                                                 absl::string_view name) {
  return Add("Const", {},
             AttrMap{{"dtype", dtype}, {"shape", std::move(shape)}, {"value", std::vector{value}}},
             name.empty() ? "const" : name);
}

}  // namespace sbpflow
