#include "actor/actor_graph.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "actor/fetch_assembly.h"
#include "base/box.h"
#include "base/status_macros.h"

namespace sbpflow {
namespace {

bool BoxInside(const Box& box, const Shape& shape) {
  if (static_cast<int>(box.size()) != shape.rank()) return false;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (box[axis].begin < 0 || box[axis].end > shape.dim(axis) || box[axis].begin > box[axis].end) {
      return false;
    }
  }
  return true;
}

class Builder {
 public:
  Builder(const PhysicalPlan& plan, const KernelRegistry& kernels)
      : plan_(plan), kernels_(kernels) {}

  absl::StatusOr<ActorGraph> Build() {
    if (plan_.micro_batches < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("plan: micro_batches must be at least 1, got ", plan_.micro_batches));
    }
    SBP_RETURN_IF_ERROR(CheckFeeds());
    graph_.actors.resize(plan_.ops.size());
    for (int index = 0; index < static_cast<int>(plan_.ops.size()); ++index) {
      SBP_RETURN_IF_ERROR(WireOp(index));
    }
    SBP_RETURN_IF_ERROR(WireFetches());
    for (int index = 0; index < static_cast<int>(plan_.ops.size()); ++index) {
      graph_.actors[index].aliases_input = MayAliasInput(index);
    }
    return std::move(graph_);
  }

 private:
  template <typename... Parts>
  absl::Status OpError(const PlanOp& op, const Parts&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("op '", op.name, "': ", parts...));
  }

  // Reshape only reinterprets its input's bytes. Sharing them is safe unless
  // an op writes the input or the output in place: a writer waits only for
  // the readers of its own register, not for those of an alias.
  bool MayAliasInput(int index) const {
    const PlanOp& op = plan_.ops[index];
    if (op.kind != PlanOpKind::kKernel || op.type != "Reshape" || op.inputs.size() != 1 ||
        op.outputs.size() != 1 || !op.mutable_inputs.empty()) {
      return false;
    }
    const PlanValue& input = op.inputs[0];
    const TensorType& input_type = plan_.ops[input.op].outputs[input.output];
    if (input_type.dtype != op.outputs[0].dtype ||
        input_type.shape.NumElements() != op.outputs[0].shape.NumElements()) {
      return false;
    }
    return graph_.actors[input.op].outputs[input.output].mutator < 0 &&
           graph_.actors[index].outputs[0].mutator < 0;
  }

  absl::Status CheckFeeds() {
    for (const FeedSpec& feed : plan_.feeds) {
      if (!feed.logical.shape.IsFullyKnown()) {
        return absl::InvalidArgumentError(absl::StrCat("feed '", feed.name, "': shape ",
                                                       feed.logical.shape.ToString(),
                                                       " is not fully known"));
      }
      if (feed.logical.shape.rank() > 0 && feed.logical.shape.dim(0) % plan_.micro_batches != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("feed '", feed.name, "': batch ", feed.logical.shape.dim(0),
                         " does not split into ", plan_.micro_batches, " micro-batches"));
      }
      feeds_[feed.name] = &feed;
    }
    return absl::OkStatus();
  }

  absl::Status WireOp(int index) {
    const PlanOp& op = plan_.ops[index];
    ActorWiring& actor = graph_.actors[index];
    if (op.device < 0 || op.device >= static_cast<int>(plan_.devices.size())) {
      return OpError(op, "device ", op.device, " is not in the plan (", plan_.devices.size(),
                     " device(s))");
    }
    if (op.registers < 1) return OpError(op, "registers must be at least 1, got ", op.registers);
    for (const TensorType& output : op.outputs) {
      if (!output.shape.IsFullyKnown()) {
        return OpError(op, "output shape ", output.shape.ToString(), " is not fully known");
      }
    }
    std::vector<TensorType> input_types;
    for (int position = 0; position < static_cast<int>(op.inputs.size()); ++position) {
      const PlanValue& value = op.inputs[position];
      if (value.op < 0 || value.op >= index) {
        return OpError(op, "input ", position, " refers to op ", value.op,
                       ", which does not precede it");
      }
      const PlanOp& producer = plan_.ops[value.op];
      if (value.output < 0 || value.output >= static_cast<int>(producer.outputs.size())) {
        return OpError(op, "input ", position, " reads output ", value.output, " of '",
                       producer.name, "', which has ", producer.outputs.size(), " output(s)");
      }
      input_types.push_back(producer.outputs[value.output]);
    }
    for (int control : op.control_inputs) {
      if (control < 0 || control >= index) {
        return OpError(op, "control input ", control, " does not precede it");
      }
    }
    for (int position : op.mutable_inputs) {
      if (position < 0 || position >= static_cast<int>(op.inputs.size())) {
        return OpError(op, "mutable input ", position, " is not an input (", op.inputs.size(),
                       " input(s))");
      }
    }

    SBP_RETURN_IF_ERROR(CheckKind(op, input_types, actor));

    // Firings and emissions.
    const int micro_batches = plan_.micro_batches;
    if (op.kind == PlanOpKind::kAccumulate) {
      actor.firings = graph_.actors[op.inputs[0].op].emissions;
      actor.emissions = 1;
    } else if (op.frequency == Frequency::kPerMicroBatch) {
      actor.firings = actor.emissions = micro_batches;
    } else {
      actor.firings = actor.emissions = 1;
    }
    actor.lane = op.kind == PlanOpKind::kCollective ? LaneKind::kCommunication : LaneKind::kCompute;
    actor.outputs.resize(op.outputs.size());

    // Data edges.
    for (int position = 0; position < static_cast<int>(op.inputs.size()); ++position) {
      const PlanValue& value = op.inputs[position];
      const PlanOp& producer = plan_.ops[value.op];
      const int emissions = graph_.actors[value.op].emissions;
      if (emissions > 1 && actor.firings == 1) {
        return OpError(op, "(", FrequencyName(op.frequency), ") reads '", producer.name, "' (",
                       FrequencyName(producer.frequency), ") over ", micro_batches,
                       " micro-batches; only an accumulate op can combine micro-batches");
      }
      InputEdge edge;
      edge.producer = value.op;
      edge.output = value.output;
      edge.broadcast = emissions == 1 && actor.firings > 1;
      for (int mutable_position : op.mutable_inputs) {
        if (mutable_position == position) edge.is_mutable = true;
      }
      actor.inputs.push_back(edge);
      graph_.actors[value.op].outputs[value.output].consumers.push_back(
          ConsumerEdge{index, position});
    }
    // Writers in place, per producer output.
    for (int position = 0; position < static_cast<int>(op.inputs.size()); ++position) {
      if (!actor.inputs[position].is_mutable) continue;
      const PlanValue& value = op.inputs[position];
      OutputWiring& output = graph_.actors[value.op].outputs[value.output];
      if (output.mutator >= 0 && output.mutator != index) {
        return absl::InvalidArgumentError(absl::StrCat(
            "ops '", plan_.ops[output.mutator].name, "' and '", op.name, "' both write output ",
            value.output, " of '", plan_.ops[value.op].name, "' in place"));
      }
      if (output.mutator < 0) {
        output.mutator = index;
        for (const PlanValue& other : op.inputs) {
          if (other == value) ++output.mutator_edges;
        }
      }
      output.mutator_positions.push_back(position);
    }
    // Control edges.
    for (int position = 0; position < static_cast<int>(op.control_inputs.size()); ++position) {
      const int producer = op.control_inputs[position];
      actor.control_producers.push_back(producer);
      graph_.actors[producer].control_consumers.push_back(ConsumerEdge{index, position});
    }
    return absl::OkStatus();
  }

  absl::Status CheckKind(const PlanOp& op, const std::vector<TensorType>& input_types,
                         ActorWiring& actor) {
    switch (op.kind) {
      case PlanOpKind::kKernel: {
        const DeviceType device_type = plan_.devices[op.device].type;
        const DataType dtype = KernelDataType(input_types, op.outputs);
        actor.kernel = kernels_.Find(op.type, device_type, dtype);
        if (actor.kernel == nullptr) {
          return OpError(op, "no ", DeviceTypeName(device_type), " kernel for ", op.type, " (",
                         DataTypeName(dtype), ")");
        }
        return absl::OkStatus();
      }
      case PlanOpKind::kPlaceholder:
        return CheckPlaceholder(op);
      case PlanOpKind::kVariable:
        return CheckVariable(op);
      case PlanOpKind::kAccumulate:
        if (op.frequency != Frequency::kPerStep) {
          return OpError(op, "an accumulate op must be per-step");
        }
        if (op.inputs.size() != 1 || op.outputs.size() != 1 || input_types[0] != op.outputs[0]) {
          return OpError(op, "an accumulate op needs one input and one output of the same type");
        }
        if (op.outputs[0].dtype == DataType::kBool) {
          return OpError(op, "cannot accumulate bool values");
        }
        return absl::OkStatus();
      case PlanOpKind::kCollective:
        if (op.inputs.size() > 1 || op.outputs.size() > 1) {
          return OpError(op, "a collective op has at most one input and one output, got ",
                         op.inputs.size(), " and ", op.outputs.size());
        }
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status CheckPlaceholder(const PlanOp& op) {
    if (!op.inputs.empty() || op.outputs.size() != 1) {
      return OpError(op, "a placeholder op has no inputs and one output");
    }
    auto feed = feeds_.find(op.feed);
    if (feed == feeds_.end()) return OpError(op, "feed '", op.feed, "' is not in the plan");
    const TensorType& logical = feed->second->logical;
    Shape micro_batch = logical.shape;
    if (micro_batch.rank() > 0) micro_batch.mutable_dim(0) /= plan_.micro_batches;
    if (!BoxInside(op.box, micro_batch)) {
      return OpError(op, "box ", BoxToString(op.box), " is not inside one micro-batch of feed '",
                     op.feed, "' (", micro_batch.ToString(), ")");
    }
    const TensorType expected{logical.dtype, BoxShape(op.box)};
    if (op.outputs[0] != expected) {
      return OpError(op, "output ", op.outputs[0].ToString(), " does not match its box ",
                     BoxToString(op.box), " of feed '", op.feed, "' (", expected.ToString(), ")");
    }
    return absl::OkStatus();
  }

  absl::Status CheckVariable(const PlanOp& op) {
    if (op.frequency != Frequency::kPerStep) return OpError(op, "a variable op must be per-step");
    if (!op.inputs.empty() || op.outputs.size() != 1) {
      return OpError(op, "a variable op has no inputs and one output");
    }
    const VariableSpec* spec = nullptr;
    for (const VariableSpec& candidate : plan_.variables) {
      if (candidate.name == op.variable) spec = &candidate;
    }
    if (spec == nullptr) return OpError(op, "variable '", op.variable, "' is not in the plan");
    if (!BoxInside(op.box, spec->logical.shape)) {
      return OpError(op, "box ", BoxToString(op.box), " is not inside variable '", op.variable,
                     "' (", spec->logical.shape.ToString(), ")");
    }
    const TensorType expected{spec->logical.dtype, BoxShape(op.box)};
    if (op.outputs[0] != expected) {
      return OpError(op, "output ", op.outputs[0].ToString(), " does not match its box ",
                     BoxToString(op.box), " of variable '", op.variable, "' (", expected.ToString(),
                     ")");
    }
    return absl::OkStatus();
  }

  absl::Status WireFetches() {
    graph_.fetch_values.resize(plan_.fetches.size());
    for (int fetch = 0; fetch < static_cast<int>(plan_.fetches.size()); ++fetch) {
      const FetchSpec& spec = plan_.fetches[fetch];
      std::vector<TensorType> types;
      int values = -1;
      for (int source = 0; source < static_cast<int>(spec.sources.size()); ++source) {
        const PlanValue& value = spec.sources[source];
        if (value.op < 0 || value.op >= static_cast<int>(plan_.ops.size()) || value.output < 0 ||
            value.output >= static_cast<int>(plan_.ops[value.op].outputs.size())) {
          return absl::InvalidArgumentError(
              absl::StrCat("fetch '", spec.name, "': source ", source, " is not an op output"));
        }
        types.push_back(plan_.ops[value.op].outputs[value.output]);
        const int emissions = graph_.actors[value.op].emissions;
        if (values >= 0 && emissions != values) {
          return absl::InvalidArgumentError(absl::StrCat(
              "fetch '", spec.name, "': sources produce different numbers of values per step"));
        }
        values = emissions;
      }
      SBP_RETURN_IF_ERROR(CheckFetch(spec, types, values));
      graph_.fetch_values[fetch] = values;
      for (int source = 0; source < static_cast<int>(spec.sources.size()); ++source) {
        const PlanValue& value = spec.sources[source];
        graph_.actors[value.op].outputs[value.output].fetch_slots.push_back(
            FetchSlot{fetch, source});
      }
    }
    return absl::OkStatus();
  }

  const PhysicalPlan& plan_;
  const KernelRegistry& kernels_;
  std::map<std::string, const FeedSpec*> feeds_;
  ActorGraph graph_;
};

}  // namespace

const char* FrequencyName(Frequency frequency) {
  return frequency == Frequency::kPerStep ? "per-step" : "per-micro-batch";
}

absl::StatusOr<ActorGraph> BuildActorGraph(const PhysicalPlan& plan,
                                           const KernelRegistry& kernels) {
  return Builder(plan, kernels).Build();
}

}  // namespace sbpflow
