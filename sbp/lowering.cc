#include "sbp/lowering.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "graph/graph_proto.h"
#include "sbp/boxing/step_lowering.h"
#include "sbp/pipeline.h"

namespace sbpflow {
namespace {

// Per plan device, the local value of one logical tensor.
using DeviceValues = std::map<int, PlanValue>;

class Lowerer {
 public:
  Lowerer(const Graph& graph, const std::vector<NodeLayout>& layouts, const OpRegistry& ops,
          const LoweringOptions& options)
      : graph_(graph), layouts_(layouts), ops_(ops), options_(options) {}

  absl::StatusOr<PhysicalPlan> Run() {
    plan_.devices = options_.devices;
    plan_.micro_batches = std::max(1, options_.micro_batches);
    full_ = options_.full_batch_graph != nullptr ? options_.full_batch_graph : &graph_;
    weight_gradient_ = WeightGradientNodes(graph_);
    for (int index = 0; index < static_cast<int>(options_.devices.size()); ++index) {
      device_index_[options_.devices[index]] = index;
    }
    for (const NodeLayout& layout : layouts_) {
      for (const Device& device : layout.placement.devices()) {
        if (!device_index_.contains(device)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "device ", device.ToString(), " of placement ", layout.placement.ToString(),
              " is not among the job's devices ", DeviceListToString(options_.devices)));
        }
      }
    }
    SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph_.TopologicalOrder());
    values_.resize(graph_.num_nodes());
    node_ops_.resize(graph_.num_nodes());
    for (int index : order) SBP_RETURN_IF_ERROR(LowerNode(index));
    SBP_RETURN_IF_ERROR(AddFetches());
    return std::move(plan_);
  }

 private:
  Frequency NodeFrequency(const Node& node) const {
    return node.role == NodeRole::kOptimizer || node.op == "Variable" ? Frequency::kPerStep
                                                                      : Frequency::kPerMicroBatch;
  }

  Phase NodePhase(int index) const {
    const Node& node = graph_.node(index);
    switch (node.role) {
      case NodeRole::kForward:
        return Phase::kForward;
      case NodeRole::kBackward:
        return weight_gradient_[index] ? Phase::kBackwardWeight : Phase::kBackwardInput;
      case NodeRole::kOptimizer:
        return Phase::kOptimizer;
    }
    return Phase::kForward;
  }

  // Attrs a kernel needs from the logical graph.
  absl::Status SetLogicalAttrs(const Node& node, AttrMap& attrs) {
    auto set_count = [&](int64_t count) -> absl::Status {
      SBP_ASSIGN_OR_RETURN(int64_t given, attrs.GetIntOr("count", 0));
      if (given == 0) attrs.Set("count", count);
      return absl::OkStatus();
    };
    // Counts are over the whole step (the full-batch graph has the same nodes).
    const Node& whole = full_->node(*full_->FindNode(node.name));
    if (node.op == "ReduceMean") {
      const Shape& shape = full_->type(whole.inputs[0]).shape;
      SBP_ASSIGN_OR_RETURN(std::vector<int64_t> axes, attrs.GetIntList("axes"));
      int64_t count = 1;
      if (axes.empty()) {
        count = shape.NumElements();
      } else {
        for (int64_t axis : axes) count *= shape.dim(NormalizeAxis(axis, shape.rank()));
      }
      return set_count(count);
    }
    if (node.op == "SoftmaxCrossEntropy") {
      return set_count(full_->type(whole.inputs[1]).shape.NumElements());
    }
    if (node.op == "SoftmaxCrossEntropyGrad") {
      return set_count(full_->type(whole.inputs[2]).shape.NumElements());
    }
    return absl::OkStatus();
  }

  std::string OpName(const std::string& base, const Placement& placement, int device) const {
    if (plan_.devices.size() == 1) return base;
    return absl::StrCat(base, "@", plan_.devices[device].ToString());
  }

  absl::Status LowerNode(int index) {
    const Node& node = graph_.node(index);
    const NodeLayout& layout = layouts_[index];
    const Placement& placement = layout.placement;
    const OpDef* def = ops_.Find(node.op);
    CHECK(def != nullptr) << node.op;
    std::vector<DeviceValues> inputs;
    const Frequency frequency = NodeFrequency(node);
    for (size_t position = 0; position < node.inputs.size(); ++position) {
      const TensorRef ref = node.inputs[position];
      // A per-step consumer of per-micro-batch values reads their sum.
      const bool accumulate = plan_.micro_batches > 1 && frequency == Frequency::kPerStep &&
                              NodeFrequency(graph_.node(ref.node)) == Frequency::kPerMicroBatch;
      SBP_ASSIGN_OR_RETURN(
          DeviceValues values,
          Boxed(ref, Layout{placement, layout.inputs[position]}, accumulate, NodeSite(index)));
      inputs.push_back(std::move(values));
    }
    AttrMap attrs = node.attrs;
    SBP_RETURN_IF_ERROR(SetLogicalAttrs(node, attrs));
    values_[index].resize(node.outputs.size());
    for (int rank = 0; rank < placement.size(); ++rank) {
      const int device = device_index_.at(placement.devices()[rank]);
      PlanOp op;
      op.name = OpName(node.name, placement, device);
      op.type = node.op;
      op.logical_node = node.name;
      op.attrs = attrs;
      op.device = device;
      op.frequency = frequency;
      const OpSite site = NodeSite(index);
      op.phase = site.phase;
      op.stage = site.stage;
      op.chunk = site.chunk;
      op.mutable_inputs = def->mutable_inputs;
      for (const DeviceValues& values : inputs) {
        auto it = values.find(device);
        CHECK(it != values.end()) << node.name << " misses an input on " << device;
        op.inputs.push_back(it->second);
      }
      for (int control : node.control_inputs) {
        auto on_device = node_ops_[control].find(device);
        if (on_device != node_ops_[control].end()) {
          op.control_inputs.push_back(on_device->second);
        } else {
          for (const auto& [other_device, other_op] : node_ops_[control]) {
            op.control_inputs.push_back(other_op);
          }
        }
      }
      for (size_t output = 0; output < node.outputs.size(); ++output) {
        const Box box =
            ShardBox(node.outputs[output].shape, layout.outputs[output], placement, rank);
        op.outputs.push_back(TensorType{node.outputs[output].dtype, BoxShape(box)});
      }
      if (node.op == "Placeholder") {
        op.kind = PlanOpKind::kPlaceholder;
        op.feed = node.name;
        op.box = ShardBox(node.outputs[0].shape, layout.outputs[0], placement, rank);
      } else if (node.op == "Variable") {
        op.kind = PlanOpKind::kVariable;
        op.variable = node.name;
        op.box = ShardBox(node.outputs[0].shape, layout.outputs[0], placement, rank);
      } else {
        op.kind = PlanOpKind::kKernel;
      }
      const int op_index = AddOp(std::move(op));
      node_ops_[index][device] = op_index;
      for (size_t output = 0; output < node.outputs.size(); ++output) {
        values_[index][output][device] = PlanValue{op_index, static_cast<int>(output)};
      }
    }
    if (node.op == "Placeholder") {
      plan_.feeds.push_back(
          FeedSpec{node.name, full_->node(*full_->FindNode(node.name)).outputs[0]});
    } else if (node.op == "Variable") {
      VariableSpec spec;
      spec.name = node.name;
      spec.logical = node.outputs[0];
      SBP_ASSIGN_OR_RETURN(spec.initializer, node.attrs.GetString("initializer"));
      SBP_ASSIGN_OR_RETURN(spec.seed, node.attrs.GetInt("seed"));
      SBP_ASSIGN_OR_RETURN(spec.trainable, node.attrs.GetBool("trainable"));
      for (const auto& [device, op_index] : node_ops_[index]) spec.ops.push_back(op_index);
      plan_.variables.push_back(std::move(spec));
    }
    return absl::OkStatus();
  }

  int AddOp(PlanOp op) {
    plan_.ops.push_back(std::move(op));
    return static_cast<int>(plan_.ops.size()) - 1;
  }

  // The per-step sum of a per-micro-batch value, on every device holding it;
  // built once.
  DeviceValues Accumulated(TensorRef ref) {
    auto cached = accumulated_.find(ref);
    if (cached != accumulated_.end()) return cached->second;
    DeviceValues result;
    for (const auto& [device, value] : values_[ref.node][ref.output]) {
      const PlanOp& producer = plan_.ops[value.op];
      PlanOp op;
      op.name = OpName(absl::StrCat(graph_.RefName(ref), "/accumulate"), Placement(), device);
      op.kind = PlanOpKind::kAccumulate;
      op.type = "Accumulate";
      op.device = device;
      op.frequency = Frequency::kPerStep;
      op.stage = producer.stage;
      op.chunk = producer.chunk;
      op.phase = producer.phase;
      op.logical_node = producer.logical_node;
      op.inputs = {value};
      op.outputs = {producer.outputs[value.output]};
      result[device] = PlanValue{AddOp(std::move(op)), 0};
    }
    accumulated_[ref] = result;
    return result;
  }

  // Where an op runs in a pipeline: rank, chunk and phase.
  struct OpSite {
    int stage = 0;
    int chunk = 0;
    Phase phase = Phase::kForward;
    bool operator==(const OpSite&) const = default;
  };

  OpSite NodeSite(int index) const {
    const Node& node = graph_.node(index);
    OpSite site;
    site.phase = NodePhase(index);
    if (node.stage.has_value()) {
      site.stage = *node.stage % options_.pipeline_ranks;
      site.chunk = *node.stage / options_.pipeline_ranks;
    }
    return site;
  }

  // The values of `ref` laid out as `target` (summed over the step's
  // micro-batches first when `accumulate`), boxing them once. The boxing ops
  // on the producer's devices run at the producer's site; those on other
  // devices (after a change of placement, e.g. to the next pipeline rank) at
  // the consumer's, so every op of a device belongs to that device's rank.
  absl::StatusOr<DeviceValues> Boxed(TensorRef ref, const Layout& target, bool accumulate,
                                     const OpSite& consumer) {
    const NodeLayout& producer = layouts_[ref.node];
    const Layout from{producer.placement, producer.outputs[ref.output]};
    const DeviceValues produced = accumulate ? Accumulated(ref) : values_[ref.node][ref.output];
    if (from == target) return produced;
    // Within one placement every boxing op runs at the producer's site, so
    // consumers at different sites share the result.
    const bool moves = !(from.placement == target.placement);
    for (const BoxedValue& cached : boxed_) {
      if (cached.ref == ref && cached.layout == target && cached.accumulated == accumulate &&
          (!moves || cached.consumer == consumer)) {
        return cached.values;
      }
    }
    const TensorType& type = graph_.type(ref);
    BoxingRequest request{type.shape, type.dtype, from, target, options_.link};
    auto boxing = PlanBoxing(request);
    if (!boxing.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", graph_.RefName(ref), "': ", boxing.status().message()));
    }
    // Copied out: emitting steps appends to plan_.ops, which may reallocate.
    const PlanOp& first = plan_.ops[produced.begin()->second.op];
    const Frequency frequency = first.frequency;
    const StepSites sites{produced, OpSite{first.stage, first.chunk, first.phase}, consumer};
    DeviceValues current = produced;
    const std::string base = absl::StrCat(graph_.RefName(ref), "/boxing", boxed_.size());
    for (size_t step_index = 0; step_index < boxing->steps.size(); ++step_index) {
      current =
          EmitStep(boxing->steps[step_index], current, type, absl::StrCat(base, "/", step_index),
                   frequency, sites, graph_.node(ref.node).name);
    }
    boxed_.push_back(BoxedValue{ref, target, accumulate, consumer, current});
    return current;
  }

  // The sites of a boxing chain's ops: the producer's on the devices that
  // produced the value, the consumer's elsewhere.
  struct StepSites {
    const DeviceValues& produced;
    OpSite producer;
    OpSite consumer;
    const OpSite& For(int device) const { return produced.contains(device) ? producer : consumer; }
  };

  DeviceValues EmitStep(const BoxingStep& step, const DeviceValues& current, const TensorType& type,
                        const std::string& name, Frequency frequency, const StepSites& sites,
                        const std::string& logical_node) {
    DeviceValues result;
    const std::string kind(BoxingKindName(step.kind));
    auto base_op = [&](int device) {
      PlanOp op;
      op.device = device;
      op.frequency = frequency;
      op.stage = sites.For(device).stage;
      op.chunk = sites.For(device).chunk;
      op.phase = sites.For(device).phase;
      op.logical_node = logical_node;
      return op;
    };
    if (IsLocal(step.kind)) {
      for (LocalStepOp& local : LocalStepOps(step, type.shape)) {
        const int index = device_index_.at(local.device);
        PlanOp op = base_op(index);
        op.kind = PlanOpKind::kKernel;
        op.name = OpName(absl::StrCat(name, ":", kind), step.to.placement, index);
        op.type = local.type;
        op.attrs = std::move(local.attrs);
        op.inputs.push_back(current.at(index));
        op.outputs.push_back(TensorType{type.dtype, BoxShape(local.output_box)});
        result[index] = PlanValue{AddOp(std::move(op)), 0};
      }
      return result;
    }
    const auto groups =
        CollectiveStepSpecs(step, type.shape, type.dtype, name,
                            [&](const Device& device) { return device_index_.at(device); });
    for (const std::vector<CollectiveSpec>& members : groups) {
      for (const CollectiveSpec& spec : members) {
        const int index = spec.group[spec.rank];
        PlanOp op = base_op(index);
        op.kind = PlanOpKind::kCollective;
        op.type = kind;
        op.name = OpName(absl::StrCat(name, ":", kind), step.to.placement, index);
        op.collective = spec;
        if (spec.has_input[spec.rank]) op.inputs.push_back(current.at(index));
        if (spec.has_output[spec.rank]) {
          op.outputs.push_back(TensorType{type.dtype, BoxShape(spec.output_boxes[spec.rank])});
        }
        const int op_index = AddOp(std::move(op));
        if (spec.has_output[spec.rank]) result[index] = PlanValue{op_index, 0};
      }
    }
    return result;
  }

  absl::Status AddFetch(const std::string& name, TensorRef ref, bool sum_micro_batches) {
    const NodeLayout& layout = layouts_[ref.node];
    const NdSbp& nd_sbp = layout.outputs[ref.output];
    FetchSpec fetch;
    fetch.name = name;
    fetch.logical = graph_.type(ref);
    fetch.partial = HasPartial(nd_sbp);
    fetch.sum_micro_batches = sum_micro_batches;
    for (int rank = 0; rank < layout.placement.size(); ++rank) {
      // One replica per broadcast axis.
      const std::vector<int64_t> coordinate = layout.placement.Coordinate(rank);
      bool first_replica = true;
      for (int axis = 0; axis < layout.placement.mesh_rank(); ++axis) {
        if (nd_sbp[axis].is_broadcast() && coordinate[axis] != 0) first_replica = false;
      }
      if (!first_replica) continue;
      const int device = device_index_.at(layout.placement.devices()[rank]);
      fetch.sources.push_back(values_[ref.node][ref.output].at(device));
      fetch.boxes.push_back(ShardBox(fetch.logical.shape, nd_sbp, layout.placement, rank));
    }
    plan_.fetches.push_back(std::move(fetch));
    return absl::OkStatus();
  }

  absl::Status AddFetches() {
    const GraphSignature& signature = graph_.signature();
    if (signature.loss.valid()) SBP_RETURN_IF_ERROR(AddFetch("loss", signature.loss, true));
    if (signature.logits.valid()) SBP_RETURN_IF_ERROR(AddFetch("logits", signature.logits, false));
    for (const std::string& name : options_.fetches) {
      auto ref = ParseTensorRef(graph_, name);
      if (!ref.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("fetch ", ref.status().message()));
      }
      SBP_RETURN_IF_ERROR(AddFetch(name, *ref, false));
    }
    return absl::OkStatus();
  }

  struct BoxedValue {
    TensorRef ref;
    Layout layout;
    bool accumulated = false;
    OpSite consumer;
    DeviceValues values;
  };

  const Graph& graph_;
  const std::vector<NodeLayout>& layouts_;
  const OpRegistry& ops_;
  const LoweringOptions& options_;
  PhysicalPlan plan_;
  std::map<Device, int> device_index_;
  std::vector<std::vector<DeviceValues>> values_;
  std::vector<std::map<int, int>> node_ops_;
  std::vector<BoxedValue> boxed_;
  std::map<TensorRef, DeviceValues> accumulated_;
  const Graph* full_ = nullptr;
  std::vector<bool> weight_gradient_;
};

}  // namespace

absl::StatusOr<PhysicalPlan> LowerGraph(const Graph& graph, const std::vector<NodeLayout>& layouts,
                                        const OpRegistry& ops, const LoweringOptions& options) {
  Lowerer lowerer(graph, layouts, ops, options);
  return lowerer.Run();
}

absl::StatusOr<PhysicalPlan> LowerSingleDevice(const Graph& graph, const OpRegistry& registry,
                                               const LoweringOptions& options) {
  if (options.devices.empty()) return absl::InvalidArgumentError("no device to lower onto");
  SBP_ASSIGN_OR_RETURN(Placement placement, Placement::Create({options.devices[0]}, {1}, {}));
  std::vector<NodeLayout> layouts(graph.num_nodes());
  const NdSbp whole = {Sbp::Broadcast()};
  for (int index = 0; index < graph.num_nodes(); ++index) {
    layouts[index].placement = placement;
    layouts[index].outputs.assign(graph.node(index).outputs.size(), whole);
    layouts[index].inputs.assign(graph.node(index).inputs.size(), whole);
  }
  LoweringOptions single = options;
  single.devices = {options.devices[0]};
  return LowerGraph(graph, layouts, registry, single);
}

}  // namespace sbpflow
