// The logical graph: nodes, their data and control edges, and the signature
// that tells a training job which tensors are the loss and the data inputs.
//
// A Graph is a plain value: copyable, not thread-safe for concurrent mutation.
// Node indices are stable (nodes are only appended), so TensorRef stays valid
// while passes add nodes.
#ifndef SBPFLOW_GRAPH_GRAPH_H_
#define SBPFLOW_GRAPH_GRAPH_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/attr_value.h"
#include "base/shape.h"

namespace sbpflow {

// One output of one node.
struct TensorRef {
  int node = -1;
  int output = 0;

  bool valid() const { return node >= 0; }
  bool operator==(const TensorRef& other) const {
    return node == other.node && output == other.output;
  }
  bool operator!=(const TensorRef& other) const { return !(*this == other); }
  bool operator<(const TensorRef& other) const {
    return node != other.node ? node < other.node : output < other.output;
  }
  template <typename H>
  friend H AbslHashValue(H state, const TensorRef& ref) {
    return H::combine(std::move(state), ref.node, ref.output);
  }
};

// Which part of a training step a node belongs to. Set by autodiff and the
// optimizer builder; loaded graphs are all kForward.
enum class NodeRole { kForward, kBackward, kOptimizer };
absl::string_view NodeRoleName(NodeRole role);

// The placement annotation of a node as written in the graph (parsed and
// checked by sbp/).
struct PlacementAnnotation {
  std::string devices;
  std::vector<int64_t> mesh;
  std::vector<std::string> axes;

  bool empty() const { return devices.empty() && mesh.empty() && axes.empty(); }
  bool operator==(const PlacementAnnotation& other) const {
    return devices == other.devices && mesh == other.mesh && axes == other.axes;
  }
};

struct Node {
  std::string name;
  std::string op;
  std::vector<TensorRef> inputs;
  std::vector<int> control_inputs;
  AttrMap attrs;
  // Output types, filled by shape inference.
  std::vector<TensorType> outputs;
  NodeRole role = NodeRole::kForward;
  // For backward nodes the forward node whose gradient created them; for
  // optimizer nodes the variable they update; -1 otherwise. Lets the pipeline
  // pass put a node on the stage of its origin.
  int origin = -1;

  // Annotations for the SBP and pipeline passes; empty when not given.
  PlacementAnnotation placement;
  std::vector<std::string> output_sbp;
  // A layout preset's preference for output 0 (NdSbpPattern text): inference
  // keeps to it when some signature fits and ignores it otherwise. Not
  // stored in graph files.
  std::string preferred_sbp;
  std::optional<int> stage;
};

// Names the tensors a training job needs. Empty strings mean "not given".
struct GraphSignature {
  TensorRef loss;
  std::string features;
  std::string labels;
  TensorRef logits;
};

class Graph {
 public:
  Graph() = default;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const Node& node(int index) const { return nodes_[index]; }
  Node& mutable_node(int index) { return nodes_[index]; }
  const std::vector<Node>& nodes() const { return nodes_; }

  // Appends a node. Requires a name not yet used (CHECKed: callers that take
  // names from users check with FindNode first and return a Status).
  int AddNode(Node node);

  // Index of the node with this name, or nullopt.
  std::optional<int> FindNode(absl::string_view name) const;

  // A name not used yet, built from `base` ("base", "base_1", ...).
  std::string UniqueName(absl::string_view base) const;

  // The type of one output; requires shape inference to have run.
  const TensorType& type(TensorRef ref) const { return nodes_[ref.node].outputs[ref.output]; }

  // "node:1" (or "node" for output 0).
  std::string RefName(TensorRef ref) const;

  // For each node, the data edges leaving it: (consumer node, input position).
  std::vector<std::vector<std::pair<int, int>>> Consumers() const;

  // Nodes in an order where every node follows its data and control inputs;
  // ties are broken by node index so the order is deterministic. Returns
  // InvalidArgument naming a node on the cycle when the graph has one.
  absl::StatusOr<std::vector<int>> TopologicalOrder() const;

  const GraphSignature& signature() const { return signature_; }
  GraphSignature& mutable_signature() { return signature_; }

  // Autodiff records, for each tensor a gradient function returned, the
  // forward tensor whose gradient it contributes to (before contributions
  // are summed). Layout presets use it to lay out the backward pass like the
  // forward one. The first record of a tensor wins (a gradient passed
  // through unchanged contributes to several tensors).
  void RecordGradientOf(TensorRef gradient, TensorRef forward) {
    gradient_of_.try_emplace(gradient, forward);
  }
  std::optional<TensorRef> GradientOf(TensorRef gradient) const {
    auto it = gradient_of_.find(gradient);
    if (it == gradient_of_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::string name_;
  std::vector<Node> nodes_;
  absl::flat_hash_map<std::string, int> index_by_name_;
  GraphSignature signature_;
  std::map<TensorRef, TensorRef> gradient_of_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_GRAPH_H_
