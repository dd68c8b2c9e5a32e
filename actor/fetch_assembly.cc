#include "actor/fetch_assembly.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/box.h"

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

template <typename T>
void AddElements(const Tensor& source, const Tensor& target) {
  const T* in = source.data<T>();
  T* out = target.data<T>();
  const int64_t count = target.num_elements();
  for (int64_t i = 0; i < count; ++i) out[i] += in[i];
}

void AddBox(const Tensor& source, const Box& source_box, const Tensor& target,
            const Box& target_box) {
  switch (target.dtype()) {
    case DataType::kFloat32:
      AddRegion(source.data<float>(), source_box, target.data<float>(), target_box, source_box);
      break;
    case DataType::kFloat64:
      AddRegion(source.data<double>(), source_box, target.data<double>(), target_box, source_box);
      break;
    case DataType::kInt32:
      AddRegion(source.data<int32_t>(), source_box, target.data<int32_t>(), target_box, source_box);
      break;
    case DataType::kInt64:
      AddRegion(source.data<int64_t>(), source_box, target.data<int64_t>(), target_box, source_box);
      break;
    case DataType::kBool:
    case DataType::kInvalid:
      LOG(FATAL) << "no sums of " << DataTypeName(target.dtype());
  }
}

// One micro-batch's logical tensor from its pieces.
Tensor AssembleMicroBatch(const FetchSpec& spec, const std::vector<Tensor>& pieces,
                          Allocator* allocator) {
  Tensor result(allocator, spec.logical.dtype, spec.logical.shape);
  result.SetZero();
  const Box full = FullBox(spec.logical.shape);
  if (spec.partial) {
    for (size_t source = 0; source < pieces.size(); ++source) {
      AddBox(pieces[source], spec.boxes[source], result, full);
    }
    return result;
  }
  const int64_t element_size = DataTypeSize(spec.logical.dtype);
  // Last source first, so the lowest-indexed source holding an element writes
  // it last.
  for (size_t source = pieces.size(); source-- > 0;) {
    CopyRegion(pieces[source].raw_data(), spec.boxes[source], result.raw_data(), full,
               spec.boxes[source], element_size);
  }
  return result;
}

}  // namespace

Allocator* FetchAllocator() {
  // Deliberately leaked: fetched tensors may be destroyed after everything
  // else, including during static destruction.
  static Allocator* const allocator = new CpuAllocator();
  return allocator;
}

absl::Status CheckFetch(const FetchSpec& spec, const std::vector<TensorType>& source_types,
                        int micro_batches) {
  auto error = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("fetch '", spec.name, "': ", parts...));
  };
  if (spec.sources.empty()) return error("has no sources");
  if (spec.sources.size() != spec.boxes.size()) {
    return error(spec.sources.size(), " source(s) but ", spec.boxes.size(), " box(es)");
  }
  if (!spec.logical.shape.IsFullyKnown()) {
    return error("shape ", spec.logical.shape.ToString(), " is not fully known");
  }
  for (size_t source = 0; source < spec.sources.size(); ++source) {
    const Box& box = spec.boxes[source];
    if (!BoxInside(box, spec.logical.shape)) {
      return error("box ", BoxToString(box), " of source ", source, " is not inside ",
                   spec.logical.shape.ToString());
    }
    const TensorType expected{spec.logical.dtype, BoxShape(box)};
    if (source_types[source] != expected) {
      return error("source ", source, " is ", source_types[source].ToString(), " but its box ",
                   BoxToString(box), " of ", spec.logical.ToString(), " needs ",
                   expected.ToString());
    }
  }
  const bool sums = spec.partial || (spec.sum_micro_batches && micro_batches > 1);
  if (sums && (spec.logical.dtype == DataType::kBool || spec.logical.dtype == DataType::kInvalid)) {
    return error("cannot sum ", DataTypeName(spec.logical.dtype), " values");
  }
  if (!spec.sum_micro_batches && micro_batches > 1 && spec.logical.shape.rank() == 0) {
    return error("cannot concatenate ", micro_batches, " scalar micro-batches along axis 0");
  }
  return absl::OkStatus();
}

void AddInto(const Tensor& source, const Tensor& target) {
  switch (target.dtype()) {
    case DataType::kFloat32:
      AddElements<float>(source, target);
      break;
    case DataType::kFloat64:
      AddElements<double>(source, target);
      break;
    case DataType::kInt32:
      AddElements<int32_t>(source, target);
      break;
    case DataType::kInt64:
      AddElements<int64_t>(source, target);
      break;
    case DataType::kBool:
    case DataType::kInvalid:
      LOG(FATAL) << "no sums of " << DataTypeName(target.dtype());
  }
}

Tensor AssembleFetch(const FetchSpec& spec, const std::vector<std::vector<Tensor>>& pieces,
                     Allocator* allocator) {
  CHECK(!pieces.empty());
  if (pieces.size() == 1) return AssembleMicroBatch(spec, pieces[0], allocator);
  if (spec.sum_micro_batches) {
    Tensor total = AssembleMicroBatch(spec, pieces[0], allocator);
    for (size_t micro_batch = 1; micro_batch < pieces.size(); ++micro_batch) {
      AddInto(AssembleMicroBatch(spec, pieces[micro_batch], allocator), total);
    }
    return total;
  }
  std::vector<int64_t> dims = spec.logical.shape.dims();
  dims[0] *= static_cast<int64_t>(pieces.size());
  Tensor result(allocator, spec.logical.dtype, Shape(dims));
  const int64_t bytes_per_micro_batch =
      spec.logical.shape.NumElements() * DataTypeSize(spec.logical.dtype);
  char* out = static_cast<char*>(result.raw_data());
  for (size_t micro_batch = 0; micro_batch < pieces.size(); ++micro_batch) {
    Tensor part = AssembleMicroBatch(spec, pieces[micro_batch], allocator);
    if (bytes_per_micro_batch > 0) {
      std::memcpy(out + micro_batch * bytes_per_micro_batch, part.raw_data(),
                  bytes_per_micro_batch);
    }
  }
  return result;
}

}  // namespace sbpflow
