#include "sbp/bucketing.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace sbpflow {
namespace {

int64_t Bytes(const TensorType& type) { return type.shape.NumElements() * DataTypeSize(type.dtype); }

// One gradient all-reduce: the participants' ops, by device.
struct Reduction {
  std::string key;
  std::vector<int> group;     // plan devices
  std::map<int, int> op_of;   // device -> op index
  DataType dtype = DataType::kFloat32;
  int64_t bytes = 0;
  int first_op = 0;
  // The op producing the gradient: buckets follow the order gradients are
  // produced, not the order their updates are listed in.
  int produced_at = 0;
};

}  // namespace

void SortPlanTopologically(PhysicalPlan* plan) {
  std::vector<double> keys(plan->ops.size());
  for (size_t index = 0; index < keys.size(); ++index) keys[index] = static_cast<double>(index);
  SortPlanTopologically(plan, keys);
}

void SortPlanTopologically(PhysicalPlan* plan, const std::vector<double>& keys) {
  const int count = static_cast<int>(plan->ops.size());
  std::vector<int> pending(count, 0);
  std::vector<std::vector<int>> successors(count);
  for (int index = 0; index < count; ++index) {
    const PlanOp& op = plan->ops[index];
    for (const PlanValue& input : op.inputs) {
      successors[input.op].push_back(index);
      ++pending[index];
    }
    for (int control : op.control_inputs) {
      successors[control].push_back(index);
      ++pending[index];
    }
  }
  auto later = [&](int a, int b) { return keys[a] != keys[b] ? keys[a] > keys[b] : a > b; };
  std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
  for (int index = 0; index < count; ++index) {
    if (pending[index] == 0) ready.push(index);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int index = ready.top();
    ready.pop();
    order.push_back(index);
    for (int successor : successors[index]) {
      if (--pending[successor] == 0) ready.push(successor);
    }
  }
  CHECK_EQ(static_cast<int>(order.size()), count) << "the plan has a cycle";
  std::vector<int> position(count);
  for (int new_index = 0; new_index < count; ++new_index) position[order[new_index]] = new_index;
  std::vector<PlanOp> ops;
  ops.reserve(count);
  for (int old_index : order) {
    PlanOp op = std::move(plan->ops[old_index]);
    for (PlanValue& input : op.inputs) input.op = position[input.op];
    for (int& control : op.control_inputs) control = position[control];
    ops.push_back(std::move(op));
  }
  plan->ops = std::move(ops);
  for (FetchSpec& fetch : plan->fetches) {
    for (PlanValue& source : fetch.sources) source.op = position[source.op];
  }
  for (VariableSpec& variable : plan->variables) {
    for (int& op : variable.ops) op = position[op];
  }
}

int BucketGradientAllReduces(PhysicalPlan* plan, const BucketingOptions& options) {
  const int count = static_cast<int>(plan->ops.size());
  // Readers of each op's outputs.
  std::vector<std::vector<std::pair<int, int>>> readers(count);  // (op, input position)
  for (int index = 0; index < count; ++index) {
    const auto& inputs = plan->ops[index].inputs;
    for (int position = 0; position < static_cast<int>(inputs.size()); ++position) {
      readers[inputs[position].op].emplace_back(index, position);
    }
  }
  // Gradient all-reduces: every reader is an optimizer op.
  std::map<std::string, Reduction> by_key;
  std::vector<std::string> keys_in_order;
  for (int index = 0; index < count; ++index) {
    const PlanOp& op = plan->ops[index];
    if (op.kind != PlanOpKind::kCollective || op.collective.kind != CollectiveKind::kAllReduce ||
        op.inputs.size() != 1 || op.outputs.size() != 1) {
      continue;
    }
    bool feeds_update = !readers[index].empty();
    for (const auto& [reader, position] : readers[index]) {
      feeds_update = feeds_update && plan->ops[reader].phase == Phase::kOptimizer;
    }
    if (!feeds_update) continue;
    Reduction& reduction = by_key[op.collective.key];
    if (reduction.op_of.empty()) {
      reduction.key = op.collective.key;
      reduction.group = op.collective.group;
      reduction.dtype = op.collective.dtype;
      reduction.bytes = Bytes(op.outputs[0]);
      reduction.first_op = index;
      reduction.produced_at = op.inputs[0].op;
      keys_in_order.push_back(op.collective.key);
    }
    reduction.op_of[op.device] = index;
  }
  std::sort(keys_in_order.begin(), keys_in_order.end(),
            [&](const std::string& a, const std::string& b) {
              return by_key.at(a).produced_at < by_key.at(b).produced_at;
            });
  // Whether op `index` depends (through inputs and control inputs) on any op
  // in `targets`, all of which precede it.
  auto depends_on = [&](int index, const std::set<int>& targets) {
    if (targets.empty()) return false;
    const int lowest = *targets.begin();
    std::vector<int> stack = {index};
    std::set<int> seen;
    while (!stack.empty()) {
      const int current = stack.back();
      stack.pop_back();
      if (current < lowest || !seen.insert(current).second) continue;
      if (current != index && targets.contains(current)) return true;
      for (const PlanValue& input : plan->ops[current].inputs) stack.push_back(input.op);
      for (int control : plan->ops[current].control_inputs) stack.push_back(control);
    }
    return false;
  };
  // Buckets per device group, in production order. A reduction that depends
  // on one already in the open bucket (a clipped gradient on the gradients
  // of the norm) starts a new bucket, so packing never makes a cycle.
  std::map<std::vector<int>, std::vector<std::vector<const Reduction*>>> buckets;
  std::map<std::vector<int>, std::set<int>> open_members;
  for (const std::string& key : keys_in_order) {
    const Reduction& reduction = by_key.at(key);
    if (reduction.op_of.size() != reduction.group.size()) continue;
    auto& list = buckets[reduction.group];
    std::set<int>& members = open_members[reduction.group];
    int64_t filled = 0;
    if (!list.empty()) {
      for (const Reduction* member : list.back()) filled += member->bytes;
    }
    if (list.empty() || list.back().front()->dtype != reduction.dtype ||
        filled + reduction.bytes > options.bucket_bytes ||
        depends_on(reduction.first_op, members)) {
      list.emplace_back();
      members.clear();
    }
    list.back().push_back(&reduction);
    for (const auto& [device, op] : reduction.op_of) members.insert(op);
  }

  // Replaced all-reduce -> the unpack output that takes its place.
  std::map<int, PlanValue> replacement;
  int made = 0;
  for (const auto& [group, lists] : buckets) {
    for (const std::vector<const Reduction*>& bucket : lists) {
      const int bucket_index = made++;
      int64_t elements = 0;
      for (const Reduction* member : bucket) {
        elements += plan->ops[member->op_of.begin()->second].outputs[0].shape.NumElements();
      }
      const DataType dtype = bucket.front()->dtype;
      const int size = static_cast<int>(group.size());
      CollectiveSpec spec;
      spec.kind = CollectiveKind::kAllReduce;
      spec.key = absl::StrCat("gradient_bucket", bucket_index);
      spec.group = group;
      spec.logical_shape = Shape{elements};
      spec.dtype = dtype;
      spec.reduce = true;
      spec.hops = 2 * (size - 1);
      spec.has_input.assign(size, true);
      spec.has_output.assign(size, true);
      spec.input_boxes.assign(size, Box{Interval{0, elements}});
      spec.output_boxes.assign(size, Box{Interval{0, elements}});
      for (int member = 0; member < size; ++member) {
        spec.bytes_sent.push_back(
            ((elements - BalancedPart(elements, size, member).size()) +
             (elements - BalancedPart(elements, size, (member + 1) % size).size())) *
            DataTypeSize(dtype));
      }
      for (int rank = 0; rank < size; ++rank) {
        const int device = group[rank];
        PlanOp pack;
        pack.name = absl::StrCat("gradient_bucket", bucket_index, "/pack@",
                                 plan->devices[device].ToString());
        pack.kind = PlanOpKind::kKernel;
        pack.type = "PackFlat";
        pack.device = device;
        pack.frequency = Frequency::kPerStep;
        pack.phase = Phase::kBackwardWeight;
        std::vector<TensorType> pieces;
        for (const Reduction* member : bucket) {
          const PlanOp& original = plan->ops[member->op_of.at(device)];
          pack.inputs.push_back(original.inputs[0]);
          pieces.push_back(original.outputs[0]);
          pack.stage = original.stage;
        }
        pack.outputs = {TensorType{dtype, Shape{elements}}};
        pack.logical_node = pack.name;
        if (!options.overlap) {
          // After every backward kernel of this device.
          for (int index = 0; index < count; ++index) {
            const PlanOp& other = plan->ops[index];
            if (other.device == device && other.kind == PlanOpKind::kKernel &&
                (other.phase == Phase::kBackwardInput || other.phase == Phase::kBackwardWeight)) {
              pack.control_inputs.push_back(index);
            }
          }
        }
        const int pack_index = static_cast<int>(plan->ops.size());
        plan->ops.push_back(pack);

        PlanOp reduce;
        reduce.name = absl::StrCat("gradient_bucket", bucket_index, ":all_reduce@",
                                   plan->devices[device].ToString());
        reduce.kind = PlanOpKind::kCollective;
        reduce.type = "all_reduce";
        reduce.device = device;
        reduce.frequency = Frequency::kPerStep;
        reduce.phase = Phase::kBackwardWeight;
        reduce.stage = pack.stage;
        reduce.collective = spec;
        reduce.collective.rank = rank;
        reduce.inputs = {PlanValue{pack_index, 0}};
        reduce.outputs = pack.outputs;
        reduce.logical_node = reduce.name;
        const int reduce_index = static_cast<int>(plan->ops.size());
        plan->ops.push_back(reduce);

        PlanOp unpack;
        unpack.name = absl::StrCat("gradient_bucket", bucket_index, "/unpack@",
                                   plan->devices[device].ToString());
        unpack.kind = PlanOpKind::kKernel;
        unpack.type = "UnpackFlat";
        unpack.device = device;
        unpack.frequency = Frequency::kPerStep;
        unpack.phase = Phase::kOptimizer;
        unpack.stage = pack.stage;
        unpack.inputs = {PlanValue{reduce_index, 0}};
        unpack.outputs = pieces;
        unpack.logical_node = unpack.name;
        const int unpack_index = static_cast<int>(plan->ops.size());
        plan->ops.push_back(unpack);

        for (size_t piece = 0; piece < bucket.size(); ++piece) {
          replacement[bucket[piece]->op_of.at(device)] =
              PlanValue{unpack_index, static_cast<int>(piece)};
        }
      }
    }
  }
  if (made == 0) return 0;
  // Readers of a replaced all-reduce (including other buckets' packs) read
  // its unpacked piece; a chain of replacements resolves to the last.
  for (PlanOp& op : plan->ops) {
    for (PlanValue& input : op.inputs) {
      for (auto it = replacement.find(input.op); it != replacement.end();
           it = replacement.find(input.op)) {
        input = it->second;
      }
    }
  }
  // Drop the replaced all-reduces, then restore a topological order in which
  // every pack, its all-reduce and unpack come right after the pack's last
  // input: the runtime runs ready ops of a device in plan order, so a bucket
  // starts as soon as its gradients exist rather than after the backward pass.
  std::vector<double> keys(plan->ops.size());
  for (size_t index = 0; index < keys.size(); ++index) keys[index] = static_cast<double>(index);
  for (size_t index = count; index < plan->ops.size(); ++index) {
    const PlanOp& op = plan->ops[index];
    double key = 0;
    for (const PlanValue& input : op.inputs) key = std::max(key, keys[input.op] + 0.25);
    keys[index] = key;
  }
  std::vector<int> position(plan->ops.size(), -1);
  std::vector<PlanOp> kept;
  std::vector<double> kept_keys;
  for (int index = 0; index < static_cast<int>(plan->ops.size()); ++index) {
    if (replacement.contains(index)) continue;
    position[index] = static_cast<int>(kept.size());
    kept.push_back(std::move(plan->ops[index]));
    kept_keys.push_back(keys[index]);
  }
  for (PlanOp& op : kept) {
    for (PlanValue& input : op.inputs) input.op = position[input.op];
    std::vector<int> controls;
    for (int control : op.control_inputs) {
      if (position[control] >= 0) controls.push_back(position[control]);
    }
    op.control_inputs = std::move(controls);
  }
  plan->ops = std::move(kept);
  for (FetchSpec& fetch : plan->fetches) {
    for (PlanValue& source : fetch.sources) source.op = position[source.op];
  }
  for (VariableSpec& variable : plan->variables) {
    for (int& op : variable.ops) op = position[op];
  }
  SortPlanTopologically(plan, kept_keys);
  return made;
}

}  // namespace sbpflow
