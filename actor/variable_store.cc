#include "actor/variable_store.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "base/box.h"
#include "base/initializer.h"
#include "base/status_macros.h"

namespace sbpflow {
namespace {

// Writes `value` into element `offset` of `tensor`, cast to its dtype.
void StoreValue(const Tensor& tensor, int64_t offset, double value) {
  switch (tensor.dtype()) {
    case DataType::kFloat32:
      tensor.data<float>()[offset] = static_cast<float>(value);
      break;
    case DataType::kFloat64:
      tensor.data<double>()[offset] = value;
      break;
    case DataType::kInt32:
      tensor.data<int32_t>()[offset] = static_cast<int32_t>(value);
      break;
    case DataType::kInt64:
      tensor.data<int64_t>()[offset] = static_cast<int64_t>(value);
      break;
    case DataType::kBool:
      tensor.data<bool>()[offset] = value != 0.0;
      break;
    case DataType::kInvalid:
      break;
  }
}

// Fills a shard holding `box` of the logical variable with its initial
// values; each element's value depends only on its logical index.
void InitializeShard(const Tensor& shard, const Box& box, const Initializer& initializer,
                     const Shape& logical_shape, uint64_t key) {
  const int64_t count = BoxNumElements(box);
  if (count == 0) return;
  const int rank = static_cast<int>(box.size());
  const std::vector<int64_t> logical_strides = RowMajorStrides(logical_shape);
  std::vector<int64_t> index(rank);
  for (int axis = 0; axis < rank; ++axis) index[axis] = box[axis].begin;
  for (int64_t offset = 0; offset < count; ++offset) {
    int64_t logical_index = 0;
    for (int axis = 0; axis < rank; ++axis) logical_index += index[axis] * logical_strides[axis];
    StoreValue(shard, offset, InitializerValue(initializer, logical_shape, key, logical_index));
    for (int axis = rank - 1; axis >= 0; --axis) {
      if (++index[axis] < box[axis].end) break;
      index[axis] = box[axis].begin;
    }
  }
}

bool BoxInside(const Box& box, const Shape& shape) {
  if (static_cast<int>(box.size()) != shape.rank()) return false;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (box[axis].begin < 0 || box[axis].end > shape.dim(axis) || box[axis].begin > box[axis].end) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VariableStore>> VariableStore::Create(
    const PhysicalPlan& plan, uint64_t job_seed, const std::vector<DeviceContext*>& devices) {
  if (devices.size() != plan.devices.size()) {
    return absl::InvalidArgumentError(absl::StrCat("variable store: the plan has ",
                                                   plan.devices.size(), " device(s) but ",
                                                   devices.size(), " context(s) were given"));
  }
  std::unique_ptr<VariableStore> store(new VariableStore());
  store->variables_ = plan.variables;
  for (const VariableSpec& spec : plan.variables) {
    auto error = [&](auto&&... parts) {
      return absl::InvalidArgumentError(absl::StrCat("variable '", spec.name, "': ", parts...));
    };
    if (store->shards_.count(spec.name) != 0) return error("listed twice");
    if (!spec.logical.shape.IsFullyKnown()) {
      return error("shape ", spec.logical.shape.ToString(), " is not fully known");
    }
    auto initializer = ParseInitializer(spec.initializer);
    if (!initializer.ok()) return error(initializer.status().message());
    const uint64_t key = InitializerKey(job_seed, spec.seed, spec.name);
    Shards& shards = store->shards_[spec.name];
    for (int op_index : spec.ops) {
      if (op_index < 0 || op_index >= static_cast<int>(plan.ops.size())) {
        return error("op ", op_index, " is not in the plan");
      }
      const PlanOp& op = plan.ops[op_index];
      if (op.kind != PlanOpKind::kVariable || op.variable != spec.name) {
        return error("op '", op.name, "' is not a variable op of it");
      }
      if (op.device < 0 || op.device >= static_cast<int>(devices.size())) {
        return error("op '", op.name, "' is on device ", op.device, ", which is not in the plan");
      }
      if (!BoxInside(op.box, spec.logical.shape)) {
        return error("op '", op.name, "': box ", BoxToString(op.box), " is not inside ",
                     spec.logical.shape.ToString());
      }
      if (shards.tensors.count(op.device) != 0) {
        return error("two shards on ", plan.devices[op.device].ToString());
      }
      Tensor shard(devices[op.device]->allocator(), spec.logical.dtype, BoxShape(op.box));
      InitializeShard(shard, op.box, *initializer, spec.logical.shape, key);
      shards.tensors.emplace(op.device, shard);
      shards.boxes.emplace(op.device, op.box);
    }
  }
  return store;
}

Tensor VariableStore::Shard(int device, const std::string& name) const {
  auto shards = shards_.find(name);
  if (shards == shards_.end()) return Tensor();
  auto tensor = shards->second.tensors.find(device);
  return tensor == shards->second.tensors.end() ? Tensor() : tensor->second;
}

absl::StatusOr<Tensor> VariableStore::ReadLogical(const std::string& name,
                                                  Allocator* allocator) const {
  auto shards = shards_.find(name);
  if (shards == shards_.end()) {
    return absl::NotFoundError(absl::StrCat("variable '", name, "' not found"));
  }
  const VariableSpec* spec = nullptr;
  for (const VariableSpec& candidate : variables_) {
    if (candidate.name == name) spec = &candidate;
  }
  Tensor logical(allocator, spec->logical.dtype, spec->logical.shape);
  logical.SetZero();
  const Box full = FullBox(spec->logical.shape);
  const int64_t element_size = DataTypeSize(spec->logical.dtype);
  // Highest device first, so the lowest-indexed shard holding an element
  // writes it last.
  for (auto it = shards->second.tensors.rbegin(); it != shards->second.tensors.rend(); ++it) {
    const Box& box = shards->second.boxes.at(it->first);
    CopyRegion(it->second.raw_data(), box, logical.raw_data(), full, box, element_size);
  }
  return logical;
}

absl::Status VariableStore::WriteLogical(const std::string& name, const Tensor& value) {
  auto shards = shards_.find(name);
  if (shards == shards_.end()) {
    return absl::NotFoundError(absl::StrCat("variable '", name, "' not found"));
  }
  const VariableSpec* spec = nullptr;
  for (const VariableSpec& candidate : variables_) {
    if (candidate.name == name) spec = &candidate;
  }
  if (!value.valid() || value.type() != spec->logical) {
    return absl::InvalidArgumentError(absl::StrCat("variable '", name, "': expected ",
                                                   spec->logical.ToString(), ", got ",
                                                   value.valid() ? value.DebugString() : "none"));
  }
  const Box full = FullBox(spec->logical.shape);
  const int64_t element_size = DataTypeSize(spec->logical.dtype);
  for (const auto& [device, shard] : shards->second.tensors) {
    const Box& box = shards->second.boxes.at(device);
    CopyRegion(value.raw_data(), full, shard.raw_data(), box, box, element_size);
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
