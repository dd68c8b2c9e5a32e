#include "sbp/pipeline.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace sbpflow {
namespace {

bool IsSource(const Node& node) {
  return node.op == "Placeholder" || node.op == "Variable" || node.op == "Const";
}

bool IsForwardCompute(const Node& node) { return node.role == NodeRole::kForward && !IsSource(node); }

std::string LayerOf(const std::string& name) {
  const size_t cut = name.find_first_of("/.");
  return cut == std::string::npos ? name : name.substr(0, cut);
}

int64_t Bytes(const TensorType& type) { return type.shape.NumElements() * DataTypeSize(type.dtype); }

int64_t NodeFlops(const Graph& graph, const OpRegistry& ops, const Node& node) {
  const OpDef* def = ops.Find(node.op);
  if (def == nullptr) return 0;
  std::vector<TensorType> inputs;
  for (const TensorRef& input : node.inputs) inputs.push_back(graph.type(input));
  return EstimateFlops(*def, node.name, inputs, node.attrs, node.outputs);
}

// Cost of a contiguous group of layers, compared lexicographically.
struct Cost {
  int64_t flops = 0;
  int64_t bytes = 0;
  bool operator<(const Cost& other) const {
    return flops != other.flops ? flops < other.flops : bytes < other.bytes;
  }
};

// Splits `layers` costs into `stages` contiguous non-empty groups minimizing
// the largest group cost. Returns the first layer of every group.
std::vector<int> Partition(const std::vector<Cost>& layers, int stages) {
  const int count = static_cast<int>(layers.size());
  std::vector<Cost> prefix(count + 1);
  for (int i = 0; i < count; ++i) {
    prefix[i + 1] = Cost{prefix[i].flops + layers[i].flops, prefix[i].bytes + layers[i].bytes};
  }
  auto span = [&](int begin, int end) {
    return Cost{prefix[end].flops - prefix[begin].flops, prefix[end].bytes - prefix[begin].bytes};
  };
  const Cost infinite{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()};
  // best[s][i]: layers [0, i) over s groups; cut[s][i]: start of the last group.
  std::vector<std::vector<Cost>> best(stages + 1, std::vector<Cost>(count + 1, infinite));
  std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(count + 1, 0));
  best[0][0] = Cost{};
  for (int s = 1; s <= stages; ++s) {
    for (int i = s; i <= count; ++i) {
      for (int j = s - 1; j < i; ++j) {
        if (best[s - 1][j].flops == infinite.flops) continue;
        const Cost candidate = std::max(best[s - 1][j], span(j, i));
        if (candidate < best[s][i]) {
          best[s][i] = candidate;
          cut[s][i] = j;
        }
      }
    }
  }
  std::vector<int> starts(stages);
  int end = count;
  for (int s = stages; s >= 1; --s) {
    starts[s - 1] = cut[s][end];
    end = cut[s][end];
  }
  return starts;
}

}  // namespace

absl::Status AssignStages(Graph* graph, const OpRegistry& ops, int stages) {
  if (stages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--pipeline must be >= 1, got ", stages));
  }
  SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph->TopologicalOrder());
  const int count = graph->num_nodes();
  std::vector<int> stage(count, -1);

  // Forward compute nodes: the user's annotations, or a balanced partition of
  // the layers.
  int annotated = 0;
  int forward = 0;
  for (const Node& node : graph->nodes()) {
    if (!IsForwardCompute(node)) continue;
    ++forward;
    if (node.stage.has_value()) ++annotated;
  }
  if (annotated > 0 && annotated < forward) {
    for (const Node& node : graph->nodes()) {
      if (IsForwardCompute(node) && !node.stage.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", node.name, "' (", node.op, "): field 'stage': ", annotated, " of ", forward,
            " compute nodes have a stage; annotate all of them or none"));
      }
    }
  }
  if (annotated == forward && forward > 0) {
    for (int index = 0; index < count; ++index) {
      const Node& node = graph->node(index);
      if (!IsForwardCompute(node)) continue;
      if (*node.stage >= stages) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", node.name, "' (", node.op, "): field 'stage': stage ", *node.stage,
            " does not exist (the pipeline has ", stages, " stages)"));
      }
      stage[index] = *node.stage;
    }
  } else {
    std::vector<std::string> layers;
    std::map<std::string, int> layer_index;
    std::vector<int> layer_of(count, -1);
    for (int index : order) {
      const Node& node = graph->node(index);
      if (!IsForwardCompute(node)) continue;
      const std::string layer = LayerOf(node.name);
      auto [it, inserted] = layer_index.emplace(layer, static_cast<int>(layers.size()));
      if (inserted) layers.push_back(layer);
      layer_of[index] = it->second;
    }
    if (static_cast<int>(layers.size()) < stages) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the pipeline has ", stages, " stages (--pipeline x --chunks) but the graph has only ",
          layers.size(), " layers (", absl::StrJoin(layers, ", "), ")"));
    }
    std::vector<Cost> costs(layers.size());
    for (int index = 0; index < count; ++index) {
      const Node& node = graph->node(index);
      int owner = layer_of[index];
      if (owner < 0 && node.origin >= 0) owner = layer_of[node.origin];
      if (owner < 0) continue;
      costs[owner].flops += NodeFlops(*graph, ops, node);
      if (node.role == NodeRole::kForward) {
        for (const TensorType& output : node.outputs) costs[owner].bytes += Bytes(output);
        for (const TensorRef& input : node.inputs) {
          if (graph->node(input.node).op == "Variable") costs[owner].bytes += Bytes(graph->type(input));
        }
      }
    }
    const std::vector<int> starts = Partition(costs, stages);
    std::vector<int> layer_stage(layers.size());
    for (int s = 0; s < stages; ++s) {
      const int end = s + 1 < stages ? starts[s + 1] : static_cast<int>(layers.size());
      for (int layer = starts[s]; layer < end; ++layer) layer_stage[layer] = s;
    }
    for (int index = 0; index < count; ++index) {
      if (layer_of[index] >= 0) stage[index] = layer_stage[layer_of[index]];
    }
  }
  // Forward data never flows to an earlier stage.
  for (int index : order) {
    const Node& node = graph->node(index);
    if (!IsForwardCompute(node)) continue;
    for (const TensorRef& input : node.inputs) stage[index] = std::max(stage[index], stage[input.node]);
  }

  // Everything else, until nothing changes: the origin's stage; for a source
  // the earliest consumer's; otherwise the latest input's.
  const auto consumers = graph->Consumers();
  bool changed = true;
  while (changed) {
    changed = false;
    for (int index : order) {
      if (stage[index] >= 0) continue;
      const Node& node = graph->node(index);
      int chosen = -1;
      if (node.origin >= 0 && stage[node.origin] >= 0) {
        chosen = stage[node.origin];
      } else if (IsSource(node)) {
        for (const auto& [consumer, position] : consumers[index]) {
          if (stage[consumer] >= 0 && (chosen < 0 || stage[consumer] < chosen)) chosen = stage[consumer];
        }
      } else if (!node.inputs.empty()) {
        bool all = true;
        for (const TensorRef& input : node.inputs) {
          all = all && stage[input.node] >= 0;
          chosen = std::max(chosen, stage[input.node]);
        }
        if (!all) chosen = -1;
      }
      if (chosen >= 0) {
        stage[index] = chosen;
        changed = true;
      }
    }
  }
  for (int index = 0; index < count; ++index) {
    graph->mutable_node(index).stage = std::max(stage[index], 0);
  }
  return absl::OkStatus();
}

std::vector<bool> WeightGradientNodes(const Graph& graph) {
  const int count = graph.num_nodes();
  std::vector<bool> weight(count, false);
  auto order = graph.TopologicalOrder();
  if (!order.ok()) return weight;
  const auto consumers = graph.Consumers();
  for (auto it = order->rbegin(); it != order->rend(); ++it) {
    const Node& node = graph.node(*it);
    if (node.role != NodeRole::kBackward) continue;
    bool only_weights = true;
    for (const auto& [consumer, position] : consumers[*it]) {
      const Node& reader = graph.node(consumer);
      if (reader.role == NodeRole::kOptimizer) continue;
      only_weights = only_weights && reader.role == NodeRole::kBackward &&
                     reader.stage == node.stage && weight[consumer];
    }
    weight[*it] = only_weights;
  }
  return weight;
}

std::vector<StageCost> StageCosts(const Graph& graph, const OpRegistry& ops, int stages) {
  std::vector<StageCost> costs(stages);
  for (const Node& node : graph.nodes()) {
    const int stage = node.stage.value_or(0);
    if (stage < 0 || stage >= stages) continue;
    costs[stage].flops += NodeFlops(graph, ops, node);
    if (node.op == "Variable" && node.attrs.GetBoolOr("trainable", true).value_or(true)) {
      costs[stage].bytes += Bytes(node.outputs[0]);
    } else if (node.role == NodeRole::kForward && !IsSource(node)) {
      for (const TensorType& output : node.outputs) costs[stage].bytes += Bytes(output);
    }
  }
  return costs;
}

}  // namespace sbpflow
