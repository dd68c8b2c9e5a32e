#include "sbp/plan_proto.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "graph/attr_proto.h"

namespace sbpflow {
namespace {

proto::Box ToProtoBox(const Box& box) {
  proto::Box out;
  for (const Interval& interval : box) {
    proto::Interval* item = out.add_intervals();
    item->set_begin(interval.begin);
    item->set_end(interval.end);
  }
  return out;
}

Box FromProtoBox(const proto::Box& box) {
  Box out;
  for (const proto::Interval& interval : box.intervals()) {
    out.push_back(Interval{interval.begin(), interval.end()});
  }
  return out;
}

proto::TensorType ToProtoType(const TensorType& type) {
  proto::TensorType out;
  out.set_dtype(ToProtoDataType(type.dtype));
  *out.mutable_shape() = ToProtoShape(type.shape);
  return out;
}

TensorType FromProtoType(const proto::TensorType& type) {
  return TensorType{FromProtoDataType(type.dtype()), FromProtoShape(type.shape())};
}

proto::PlanValue ToProtoValue(const PlanValue& value) {
  proto::PlanValue out;
  out.set_op(value.op);
  out.set_output(value.output);
  return out;
}

template <typename Enum, size_t N>
std::optional<Enum> ParseName(absl::string_view name, const std::pair<Enum, const char*> (&table)[N]) {
  for (const auto& [value, text] : table) {
    if (name == text) return value;
  }
  return std::nullopt;
}

constexpr std::pair<PlanOpKind, const char*> kKinds[] = {
    {PlanOpKind::kKernel, "kernel"},         {PlanOpKind::kPlaceholder, "placeholder"},
    {PlanOpKind::kVariable, "variable"},     {PlanOpKind::kAccumulate, "accumulate"},
    {PlanOpKind::kCollective, "collective"}};
constexpr std::pair<Phase, const char*> kPhases[] = {{Phase::kForward, "F"},
                                                     {Phase::kBackwardInput, "B"},
                                                     {Phase::kBackwardWeight, "W"},
                                                     {Phase::kOptimizer, "optimizer"}};
constexpr std::pair<CollectiveKind, const char*> kCollectives[] = {
    {CollectiveKind::kAllReduce, "all_reduce"},      {CollectiveKind::kAllGather, "all_gather"},
    {CollectiveKind::kReduceScatter, "reduce_scatter"}, {CollectiveKind::kAllToAll, "all_to_all"},
    {CollectiveKind::kBroadcast, "broadcast"},       {CollectiveKind::kSendRecv, "send_recv"}};

}  // namespace

proto::PlanDef PlanToProto(const PhysicalPlan& plan) {
  proto::PlanDef def;
  def.set_format(kPlanFormat);
  for (const Device& device : plan.devices) def.add_devices(device.ToString());
  def.set_micro_batches(plan.micro_batches);
  for (const PlanOp& op : plan.ops) {
    proto::PlanOp* out = def.add_ops();
    out->set_name(op.name);
    out->set_kind(std::string(PlanOpKindName(op.kind)));
    out->set_type(op.type);
    for (const auto& [name, value] : op.attrs.values()) (*out->mutable_attrs())[name] = ToProtoAttr(value);
    out->set_device(op.device);
    out->set_frequency(op.frequency == Frequency::kPerStep ? "step" : "micro_batch");
    for (const PlanValue& input : op.inputs) *out->add_inputs() = ToProtoValue(input);
    for (int control : op.control_inputs) out->add_control_inputs(control);
    for (int position : op.mutable_inputs) out->add_mutable_inputs(position);
    for (const TensorType& type : op.outputs) *out->add_outputs() = ToProtoType(type);
    out->set_registers(op.registers);
    out->set_feed(op.feed);
    out->set_variable(op.variable);
    *out->mutable_box() = ToProtoBox(op.box);
    if (op.kind == PlanOpKind::kCollective) {
      const CollectiveSpec& spec = op.collective;
      proto::Collective* collective = out->mutable_collective();
      collective->set_kind(std::string(CollectiveKindName(spec.kind)));
      collective->set_key(spec.key);
      for (int member : spec.group) collective->add_group(member);
      collective->set_rank(spec.rank);
      *collective->mutable_logical_shape() = ToProtoShape(spec.logical_shape);
      collective->set_dtype(ToProtoDataType(spec.dtype));
      for (bool flag : spec.has_input) collective->add_has_input(flag);
      for (bool flag : spec.has_output) collective->add_has_output(flag);
      for (const Box& box : spec.input_boxes) *collective->add_input_boxes() = ToProtoBox(box);
      for (const Box& box : spec.output_boxes) *collective->add_output_boxes() = ToProtoBox(box);
      collective->set_reduce(spec.reduce);
      for (int64_t bytes : spec.bytes_sent) collective->add_bytes_sent(bytes);
      collective->set_hops(spec.hops);
    }
    out->set_stage(op.stage);
    out->set_chunk(op.chunk);
    out->set_phase(std::string(PhaseName(op.phase)));
    out->set_logical_node(op.logical_node);
  }
  for (const FeedSpec& feed : plan.feeds) {
    proto::FeedSpec* out = def.add_feeds();
    out->set_name(feed.name);
    *out->mutable_logical() = ToProtoType(feed.logical);
  }
  for (const FetchSpec& fetch : plan.fetches) {
    proto::FetchSpec* out = def.add_fetches();
    out->set_name(fetch.name);
    *out->mutable_logical() = ToProtoType(fetch.logical);
    for (const PlanValue& source : fetch.sources) *out->add_sources() = ToProtoValue(source);
    for (const Box& box : fetch.boxes) *out->add_boxes() = ToProtoBox(box);
    out->set_partial(fetch.partial);
    out->set_sum_micro_batches(fetch.sum_micro_batches);
  }
  for (const auto& rank : plan.pipeline_schedule) {
    proto::RankSchedule* out = def.add_pipeline_schedule();
    for (const PipelineInstruction& instruction : rank) {
      proto::PipelineInstruction* item = out->add_instructions();
      item->set_phase(std::string(PhaseName(instruction.phase)));
      item->set_micro_batch(instruction.micro_batch);
      item->set_chunk(instruction.chunk);
    }
  }
  for (const VariableSpec& variable : plan.variables) {
    proto::VariableSpec* out = def.add_variables();
    out->set_name(variable.name);
    *out->mutable_logical() = ToProtoType(variable.logical);
    out->set_initializer(variable.initializer);
    out->set_seed(variable.seed);
    out->set_trainable(variable.trainable);
    for (int op : variable.ops) out->add_ops(op);
  }
  return def;
}

absl::StatusOr<PhysicalPlan> PlanFromProto(const proto::PlanDef& def, absl::string_view source) {
  auto error = [&](absl::string_view where, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", where, ": ", what));
  };
  PhysicalPlan plan;
  for (const std::string& text : def.devices()) {
    auto devices = ParseDeviceList(text);
    if (!devices.ok() || devices->size() != 1) return error("field 'devices'", text);
    plan.devices.push_back((*devices)[0]);
  }
  plan.micro_batches = std::max(1, def.micro_batches());
  const int num_ops = def.ops_size();
  auto check_value = [&](const proto::PlanValue& value) { return value.op() >= 0 && value.op() < num_ops; };
  for (int index = 0; index < num_ops; ++index) {
    const proto::PlanOp& in = def.ops(index);
    const std::string where = absl::StrCat("op '", in.name(), "'");
    PlanOp op;
    op.name = in.name();
    auto kind = ParseName(in.kind(), kKinds);
    if (!kind.has_value()) return error(where, absl::StrCat("unknown kind '", in.kind(), "'"));
    op.kind = *kind;
    op.type = in.type();
    std::map<std::string, const proto::AttrValue*> sorted;
    for (const auto& [name, value] : in.attrs()) sorted[name] = &value;
    for (const auto& [name, value] : sorted) {
      auto attr = FromProtoAttr(*value);
      if (!attr.ok()) return error(where, absl::StrCat("attr '", name, "' ", attr.status().message()));
      op.attrs.Set(name, *attr);
    }
    if (in.device() < 0 || in.device() >= static_cast<int>(plan.devices.size())) {
      return error(where, absl::StrCat("device ", in.device(), " does not exist"));
    }
    op.device = in.device();
    op.frequency = in.frequency() == "step" ? Frequency::kPerStep : Frequency::kPerMicroBatch;
    for (const proto::PlanValue& value : in.inputs()) {
      if (!check_value(value) || value.op() >= index) return error(where, "an input names a later or missing op");
      op.inputs.push_back(PlanValue{value.op(), value.output()});
    }
    for (int control : in.control_inputs()) {
      if (control < 0 || control >= index) return error(where, "a control input names a later or missing op");
      op.control_inputs.push_back(control);
    }
    op.mutable_inputs.assign(in.mutable_inputs().begin(), in.mutable_inputs().end());
    for (const proto::TensorType& type : in.outputs()) op.outputs.push_back(FromProtoType(type));
    op.registers = std::max(1, in.registers());
    op.feed = in.feed();
    op.variable = in.variable();
    op.box = FromProtoBox(in.box());
    if (op.kind == PlanOpKind::kCollective) {
      const proto::Collective& collective = in.collective();
      CollectiveSpec& spec = op.collective;
      auto collective_kind = ParseName(collective.kind(), kCollectives);
      if (!collective_kind.has_value()) {
        return error(where, absl::StrCat("unknown collective '", collective.kind(), "'"));
      }
      spec.kind = *collective_kind;
      spec.key = collective.key();
      spec.group.assign(collective.group().begin(), collective.group().end());
      spec.rank = collective.rank();
      spec.logical_shape = FromProtoShape(collective.logical_shape());
      spec.dtype = FromProtoDataType(collective.dtype());
      spec.has_input.assign(collective.has_input().begin(), collective.has_input().end());
      spec.has_output.assign(collective.has_output().begin(), collective.has_output().end());
      for (const proto::Box& box : collective.input_boxes()) spec.input_boxes.push_back(FromProtoBox(box));
      for (const proto::Box& box : collective.output_boxes()) spec.output_boxes.push_back(FromProtoBox(box));
      spec.reduce = collective.reduce();
      spec.bytes_sent.assign(collective.bytes_sent().begin(), collective.bytes_sent().end());
      spec.hops = collective.hops();
      const size_t size = spec.group.size();
      if (spec.rank < 0 || static_cast<size_t>(spec.rank) >= size || spec.has_input.size() != size ||
          spec.has_output.size() != size || spec.input_boxes.size() != size ||
          spec.output_boxes.size() != size) {
        return error(where, "collective fields do not match its group");
      }
    }
    op.stage = in.stage();
    op.chunk = in.chunk();
    auto phase = ParseName(in.phase(), kPhases);
    op.phase = phase.value_or(Phase::kForward);
    op.logical_node = in.logical_node();
    plan.ops.push_back(std::move(op));
  }
  for (const proto::FeedSpec& feed : def.feeds()) {
    plan.feeds.push_back(FeedSpec{feed.name(), FromProtoType(feed.logical())});
  }
  for (const proto::FetchSpec& in : def.fetches()) {
    FetchSpec fetch;
    fetch.name = in.name();
    fetch.logical = FromProtoType(in.logical());
    for (const proto::PlanValue& value : in.sources()) {
      if (!check_value(value)) return error(absl::StrCat("fetch '", in.name(), "'"), "a source names a missing op");
      fetch.sources.push_back(PlanValue{value.op(), value.output()});
    }
    for (const proto::Box& box : in.boxes()) fetch.boxes.push_back(FromProtoBox(box));
    fetch.partial = in.partial();
    fetch.sum_micro_batches = in.sum_micro_batches();
    plan.fetches.push_back(std::move(fetch));
  }
  for (const proto::VariableSpec& in : def.variables()) {
    VariableSpec variable;
    variable.name = in.name();
    variable.logical = FromProtoType(in.logical());
    variable.initializer = in.initializer();
    variable.seed = in.seed();
    variable.trainable = in.trainable();
    for (int op : in.ops()) {
      if (op < 0 || op >= num_ops) return error(absl::StrCat("variable '", in.name(), "'"), "names a missing op");
      variable.ops.push_back(op);
    }
    plan.variables.push_back(std::move(variable));
  }
  for (const proto::RankSchedule& rank : def.pipeline_schedule()) {
    std::vector<PipelineInstruction> instructions;
    for (const proto::PipelineInstruction& item : rank.instructions()) {
      auto phase = ParseName(item.phase(), kPhases);
      if (!phase.has_value()) {
        return error("field 'pipeline_schedule'", absl::StrCat("unknown phase '", item.phase(), "'"));
      }
      instructions.push_back(PipelineInstruction{*phase, item.micro_batch(), item.chunk()});
    }
    plan.pipeline_schedule.push_back(std::move(instructions));
  }
  return plan;
}

absl::Status WritePlanFile(const PhysicalPlan& plan, const std::string& path) {
  const proto::PlanDef def = PlanToProto(plan);
  std::string bytes;
  if (absl::EndsWith(path, ".pbtxt")) {
    if (!google::protobuf::TextFormat::PrintToString(def, &bytes)) {
      return absl::InternalError(absl::StrCat(path, ": cannot print plan"));
    }
  } else if (!def.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat(path, ": cannot serialize plan"));
  }
  return WriteFileAtomically(path, {bytes});
}

absl::StatusOr<std::optional<PhysicalPlan>> ReadPlanFile(const std::string& path) {
  SBP_ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(path));
  proto::PlanDef def;
  bool parsed = def.ParseFromString(bytes) && def.format() == kPlanFormat;
  if (!parsed) {
    google::protobuf::TextFormat::Parser parser;
    parser.AllowUnknownField(false);
    def.Clear();
    // Text that is not a plan (a graph) fails here silently.
    google::protobuf::io::ArrayInputStream input(bytes.data(), static_cast<int>(bytes.size()));
    class Silent : public google::protobuf::io::ErrorCollector {
      void AddError(int, int, const std::string&) override {}
    } silent;
    parser.RecordErrorsTo(&silent);
    parsed = parser.Parse(&input, &def) && def.format() == kPlanFormat;
  }
  if (!parsed) return std::optional<PhysicalPlan>();
  SBP_ASSIGN_OR_RETURN(PhysicalPlan plan, PlanFromProto(def, path));
  return std::optional<PhysicalPlan>(std::move(plan));
}

}  // namespace sbpflow
