#include "graph/graph.h"

#include <queue>

#include "glog/logging.h"
#include "absl/strings/str_cat.h"

namespace sbpflow {

absl::string_view NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kForward:
      return "forward";
    case NodeRole::kBackward:
      return "backward";
    case NodeRole::kOptimizer:
      return "optimizer";
  }
  return "forward";
}

int Graph::AddNode(Node node) {
  const int index = num_nodes();
  auto [it, inserted] = index_by_name_.emplace(node.name, index);
  CHECK(inserted) << "duplicate node name " << node.name;
  nodes_.push_back(std::move(node));
  return index;
}

std::optional<int> Graph::FindNode(absl::string_view name) const {
  auto it = index_by_name_.find(name);
  if (it == index_by_name_.end()) return std::nullopt;
  return it->second;
}

std::string Graph::UniqueName(absl::string_view base) const {
  if (!index_by_name_.contains(base)) return std::string(base);
  for (int suffix = 1;; ++suffix) {
    std::string candidate = absl::StrCat(base, "_", suffix);
    if (!index_by_name_.contains(candidate)) return candidate;
  }
}

std::string Graph::RefName(TensorRef ref) const {
  if (ref.output == 0) return nodes_[ref.node].name;
  return absl::StrCat(nodes_[ref.node].name, ":", ref.output);
}

std::vector<std::vector<std::pair<int, int>>> Graph::Consumers() const {
  std::vector<std::vector<std::pair<int, int>>> consumers(nodes_.size());
  for (int index = 0; index < num_nodes(); ++index) {
    const Node& node = nodes_[index];
    for (int position = 0; position < static_cast<int>(node.inputs.size()); ++position) {
      consumers[node.inputs[position].node].emplace_back(index, position);
    }
  }
  return consumers;
}

absl::StatusOr<std::vector<int>> Graph::TopologicalOrder() const {
  const int count = num_nodes();
  std::vector<int> pending(count, 0);
  std::vector<std::vector<int>> successors(count);
  for (int index = 0; index < count; ++index) {
    const Node& node = nodes_[index];
    for (const TensorRef& input : node.inputs) {
      successors[input.node].push_back(index);
      ++pending[index];
    }
    for (int control : node.control_inputs) {
      successors[control].push_back(index);
      ++pending[index];
    }
  }
  // A min-heap keeps the order deterministic and close to insertion order.
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int index = 0; index < count; ++index) {
    if (pending[index] == 0) ready.push(index);
  }
  std::vector<int> order;
  order.reserve(count);
  while (!ready.empty()) {
    const int index = ready.top();
    ready.pop();
    order.push_back(index);
    for (int successor : successors[index]) {
      if (--pending[successor] == 0) ready.push(successor);
    }
  }
  if (static_cast<int>(order.size()) != count) {
    // Every unordered node has an unordered input; following those inputs for
    // `count` steps from any of them ends inside a cycle.
    int index = 0;
    while (pending[index] == 0) ++index;
    for (int step = 0; step < count; ++step) {
      const Node& node = nodes_[index];
      int next = -1;
      for (const TensorRef& input : node.inputs) {
        if (pending[input.node] > 0) next = input.node;
      }
      for (int control : node.control_inputs) {
        if (pending[control] > 0) next = control;
      }
      CHECK_GE(next, 0);
      index = next;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("node '", nodes_[index].name, "': the graph has a cycle through it"));
  }
  return order;
}

}  // namespace sbpflow
