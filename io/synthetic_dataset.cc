#include "io/synthetic_dataset.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/initializer.h"
#include "glog/logging.h"
#include "io/shuffle.h"

namespace sbpflow {
namespace {

Shape Batched(int64_t batch_size, const Shape& example_shape) {
  std::vector<int64_t> dims = {batch_size};
  dims.insert(dims.end(), example_shape.dims().begin(), example_shape.dims().end());
  return Shape(std::move(dims));
}

absl::Status CheckPart(absl::string_view part, const Shape& shape, DataType dtype,
                       absl::string_view bound_name, int64_t bound) {
  if (!shape.IsFullyKnown()) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic ", part, " shape ", shape.ToString(), " has an unknown dimension"));
  }
  if (!IsFloatingPoint(dtype) && !IsInteger(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("synthetic ", part, " dtype ",
                                                   DataTypeName(dtype),
                                                   " is not supported (expected f32, f64, i32 "
                                                   "or i64)"));
  }
  if (IsInteger(dtype) && bound < 1) {
    return absl::InvalidArgumentError(absl::StrCat("synthetic ", DataTypeName(dtype), " ", part,
                                                   " need a positive ", bound_name, ", got ",
                                                   bound));
  }
  return absl::OkStatus();
}

// Fills `tensor` from the counter stream `key`: floats uniform in [0, 1),
// integers uniform in [0, bound).
void Fill(const Tensor& tensor, uint64_t key, int64_t bound) {
  const int64_t count = tensor.num_elements();
  switch (tensor.dtype()) {
    case DataType::kFloat32: {
      float* out = tensor.data<float>();
      // 24 bits, so that rounding to float can never reach 1.0.
      for (int64_t i = 0; i < count; ++i) {
        out[i] = static_cast<float>(MixBits(key, static_cast<uint64_t>(i)) >> 40) * 0x1.0p-24f;
      }
      break;
    }
    case DataType::kFloat64: {
      double* out = tensor.data<double>();
      for (int64_t i = 0; i < count; ++i)
        out[i] = UniformFromCounter(key, static_cast<uint64_t>(i));
      break;
    }
    case DataType::kInt32: {
      int32_t* out = tensor.data<int32_t>();
      for (int64_t i = 0; i < count; ++i) {
        out[i] = static_cast<int32_t>(
            BoundedRandom(MixBits(key, static_cast<uint64_t>(i)), static_cast<uint64_t>(bound)));
      }
      break;
    }
    case DataType::kInt64: {
      int64_t* out = tensor.data<int64_t>();
      for (int64_t i = 0; i < count; ++i) {
        out[i] = static_cast<int64_t>(
            BoundedRandom(MixBits(key, static_cast<uint64_t>(i)), static_cast<uint64_t>(bound)));
      }
      break;
    }
    default:
      LOG(FATAL) << "unchecked synthetic dtype " << DataTypeName(tensor.dtype());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SyntheticDataset>> SyntheticDataset::Create(
    const SyntheticOptions& options) {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch size must be positive, got ", options.batch_size));
  }
  if (options.batches_per_epoch < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "synthetic batches per epoch must be positive, got ", options.batches_per_epoch));
  }
  absl::Status status =
      CheckPart("features", options.example_features_shape, options.features_dtype,
                "vocabulary size", options.vocabulary_size);
  if (!status.ok()) return status;
  status = CheckPart("labels", options.example_labels_shape, options.labels_dtype,
                     "number of classes", options.num_classes);
  if (!status.ok()) return status;
  if (options.labels_dtype == DataType::kInt32 && options.num_classes > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic i32 labels cannot reach ", options.num_classes, " classes"));
  }
  if (options.features_dtype == DataType::kInt32 && options.vocabulary_size > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("synthetic i32 features cannot reach ", options.vocabulary_size, " tokens"));
  }
  return std::unique_ptr<SyntheticDataset>(new SyntheticDataset(options));
}

std::string SyntheticDataset::Describe() const {
  return absl::StrCat("synthetic: features ", features_type().ToString(), ", labels ",
                      labels_type().ToString(), ", seed ", options_.seed);
}

TensorType SyntheticDataset::features_type() const {
  return TensorType{options_.features_dtype,
                    Batched(options_.batch_size, options_.example_features_shape)};
}

TensorType SyntheticDataset::labels_type() const {
  return TensorType{options_.labels_dtype,
                    Batched(options_.batch_size, options_.example_labels_shape)};
}

Batch SyntheticDataset::GetBatch(int64_t step, Allocator* allocator) const {
  CHECK_GE(step, 0);
  const uint64_t key = MixBits(options_.seed, static_cast<uint64_t>(step));
  Tensor features(allocator, options_.features_dtype, features_type().shape);
  Tensor labels(allocator, options_.labels_dtype, labels_type().shape);
  Fill(features, MixBits(key, 0), options_.vocabulary_size);
  Fill(labels, MixBits(key, 1), options_.num_classes);
  return Batch{{kFeaturesName, std::move(features)}, {kLabelsName, std::move(labels)}};
}

}  // namespace sbpflow
