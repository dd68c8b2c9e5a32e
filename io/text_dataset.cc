#include "io/text_dataset.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/initializer.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "base/file_util.h"
#include "io/shuffle.h"

namespace sbpflow {

absl::StatusOr<std::unique_ptr<TextDataset>> TextDataset::Open(const std::string& path,
                                                               const TextOptions& options) {
  SBP_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return FromText(path, std::move(text), options);
}

absl::StatusOr<std::unique_ptr<TextDataset>> TextDataset::FromText(std::string name,
                                                                   std::string text,
                                                                   const TextOptions& options) {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch size must be positive, got ", options.batch_size));
  }
  if (options.sequence_length < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence length must be positive, got ", options.sequence_length));
  }
  if (static_cast<int64_t>(text.size()) < options.sequence_length + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", text.size(), " bytes, too short for one window of sequence length ",
        options.sequence_length, " plus 1 byte"));
  }
  return std::unique_ptr<TextDataset>(new TextDataset(std::move(name), std::move(text), options));
}

std::string TextDataset::Describe() const {
  return absl::StrCat("text ", name_, ": ", text_.size(), " bytes, ", options_.batch_size,
                      " windows of ", options_.sequence_length, " tokens per batch");
}

TensorType TextDataset::features_type() const {
  return TensorType{DataType::kInt32, Shape{options_.batch_size, options_.sequence_length}};
}

TensorType TextDataset::labels_type() const { return features_type(); }

int64_t TextDataset::batches_per_epoch() const {
  const int64_t tokens_per_batch = options_.batch_size * options_.sequence_length;
  return std::max<int64_t>(1, (static_cast<int64_t>(text_.size()) - 1) / tokens_per_batch);
}

int64_t TextDataset::WindowOffset(int64_t step, int64_t window) const {
  const uint64_t key = MixBits(options_.seed, static_cast<uint64_t>(step));
  const uint64_t offsets = text_.size() - static_cast<uint64_t>(options_.sequence_length);
  return static_cast<int64_t>(BoundedRandom(MixBits(key, static_cast<uint64_t>(window)), offsets));
}

Batch TextDataset::GetBatch(int64_t step, Allocator* allocator) const {
  CHECK_GE(step, 0);
  const int64_t length = options_.sequence_length;
  Tensor features(allocator, DataType::kInt32, Shape{options_.batch_size, length});
  Tensor labels(allocator, DataType::kInt32, Shape{options_.batch_size, length});
  int32_t* feature_out = features.data<int32_t>();
  int32_t* label_out = labels.data<int32_t>();
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(text_.data());
  for (int64_t window = 0; window < options_.batch_size; ++window) {
    const unsigned char* start = bytes + WindowOffset(step, window);
    for (int64_t t = 0; t < length; ++t) {
      feature_out[window * length + t] = start[t];
      label_out[window * length + t] = start[t + 1];
    }
  }
  return Batch{{kFeaturesName, std::move(features)}, {kLabelsName, std::move(labels)}};
}

}  // namespace sbpflow
