// Appends nodes to a Graph, inferring each node's outputs as it is added.
// Used by model builders, autodiff (gradient functions) and the optimizer
// builder. Not thread-safe; the graph and registry must outlive the builder.
#ifndef SBPFLOW_GRAPH_GRAPH_BUILDER_H_
#define SBPFLOW_GRAPH_GRAPH_BUILDER_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "base/attr_value.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

class GraphBuilder {
 public:
  GraphBuilder(Graph* graph, const OpRegistry* registry) : graph_(graph), registry_(registry) {}

  // New nodes get this role and a name "<prefix><name or op>" made unique.
  void set_role(NodeRole role) { role_ = role; }
  NodeRole role() const { return role_; }
  void set_name_prefix(std::string prefix) { prefix_ = std::move(prefix); }
  // New nodes record this origin (see Node::origin).
  void set_origin(int origin) { origin_ = origin; }
  const std::string& name_prefix() const { return prefix_; }

  // Adds a node and infers its outputs. `name` empty = the op name. Errors:
  // unknown op, or the inference error (with the node name prefixed).
  absl::StatusOr<int> AddNode(absl::string_view op, std::vector<TensorRef> inputs,
                              AttrMap attrs = {}, absl::string_view name = "");

  // AddNode, returning output 0.
  absl::StatusOr<TensorRef> Add(absl::string_view op, std::vector<TensorRef> inputs,
                                AttrMap attrs = {}, absl::string_view name = "");

  // Adds a node with exactly this name (no prefix, no uniquifying). Errors when
  // the name is taken.
  absl::StatusOr<int> AddNamedNode(std::string name, absl::string_view op,
                                   std::vector<TensorRef> inputs, AttrMap attrs = {});

  // A scalar (or `shape`) constant of `dtype` filled with `value`.
  absl::StatusOr<TensorRef> Constant(double value, DataType dtype, Shape shape = {},
                                     absl::string_view name = "");

  Graph& graph() { return *graph_; }
  const OpRegistry& registry() const { return *registry_; }
  const TensorType& type(TensorRef ref) const { return graph_->type(ref); }

 private:
  Graph* graph_;
  const OpRegistry* registry_;
  NodeRole role_ = NodeRole::kForward;
  std::string prefix_;
  int origin_ = -1;
};

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_GRAPH_BUILDER_H_
