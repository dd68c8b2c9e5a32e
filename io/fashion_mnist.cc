#include "io/fashion_mnist.h"

#include <algorithm>
#include <array>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "base/file_util.h"
#include "io/idx_file.h"
#include "io/shuffle.h"

namespace sbpflow {
namespace {

// byte / 255 for every byte value, computed once in float as specified.
const std::array<float, 256>& PixelValues() {
  static const std::array<float, 256> values = [] {
    std::array<float, 256> table;
    for (int byte = 0; byte < 256; ++byte) table[byte] = static_cast<float>(byte) / 255.0f;
    return table;
  }();
  return values;
}

std::string FilePath(const std::string& folder, FashionMnistSplit split, const char* kind) {
  const char* prefix = split == FashionMnistSplit::kTrain ? "train" : "t10k";
  return absl::StrCat(folder, "/", prefix, "-", kind, "-ubyte.gz");
}

}  // namespace

const char* FashionMnistSplitName(FashionMnistSplit split) {
  return split == FashionMnistSplit::kTrain ? "train" : "test";
}

absl::StatusOr<FashionMnistData> FashionMnistData::Load(const std::string& folder,
                                                        FashionMnistSplit split) {
  const std::string images_path = FilePath(folder, split, "images-idx3");
  const std::string labels_path = FilePath(folder, split, "labels-idx1");
  SBP_ASSIGN_OR_RETURN(std::string images, ReadGzipFile(images_path));
  SBP_ASSIGN_OR_RETURN(std::string labels, ReadGzipFile(labels_path));
  return Parse(images_path, std::move(images), labels_path, std::move(labels));
}

absl::StatusOr<FashionMnistData> FashionMnistData::Parse(const std::string& images_name,
                                                         std::string images_bytes,
                                                         const std::string& labels_name,
                                                         std::string labels_bytes) {
  SBP_ASSIGN_OR_RETURN(IdxArray images, ParseIdxUbyte(images_name, std::move(images_bytes), 3));
  SBP_ASSIGN_OR_RETURN(IdxArray labels, ParseIdxUbyte(labels_name, std::move(labels_bytes), 1));
  if (images.dims[1] != kFashionMnistImageSide || images.dims[2] != kFashionMnistImageSide) {
    return absl::InvalidArgumentError(absl::StrCat(images_name, ": images are ", images.dims[1],
                                                   "x", images.dims[2], ", expected 28x28"));
  }
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_name, " has ", images.dims[0],
                                                   " images but ", labels_name, " has ",
                                                   labels.dims[0], " labels"));
  }
  auto label_values = std::make_shared<std::vector<int32_t>>(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    int32_t label = static_cast<unsigned char>(labels.data[i]);
    if (label >= kFashionMnistClasses) {
      return absl::InvalidArgumentError(absl::StrCat(labels_name, ": label ", label, " at index ",
                                                     i, " is out of range [0, ",
                                                     kFashionMnistClasses, ")"));
    }
    (*label_values)[i] = label;
  }
  return FashionMnistData(std::make_shared<const std::string>(std::move(images.data)),
                          std::move(label_values));
}

Batch FashionMnistData::Gather(const int64_t* indices, int64_t count, Allocator* allocator) const {
  Tensor features(allocator, DataType::kFloat32, Shape{count, kFashionMnistPixels});
  Tensor labels(allocator, DataType::kInt32, Shape{count});
  const std::array<float, 256>& pixel_values = PixelValues();
  const unsigned char* pixels = reinterpret_cast<const unsigned char*>(pixels_->data());
  float* feature_out = features.data<float>();
  int32_t* label_out = labels.data<int32_t>();
  for (int64_t row = 0; row < count; ++row) {
    const int64_t example = indices[row];
    CHECK(example >= 0 && example < num_examples()) << example;
    const unsigned char* image = pixels + example * kFashionMnistPixels;
    float* out = feature_out + row * kFashionMnistPixels;
    for (int64_t pixel = 0; pixel < kFashionMnistPixels; ++pixel) {
      out[pixel] = pixel_values[image[pixel]];
    }
    label_out[row] = (*labels_)[example];
  }
  return Batch{{kFeaturesName, std::move(features)}, {kLabelsName, std::move(labels)}};
}

Batch FashionMnistData::Range(int64_t begin, int64_t end, Allocator* allocator) const {
  CHECK(0 <= begin && begin <= end && end <= num_examples()) << begin << ".." << end;
  std::vector<int64_t> indices(static_cast<size_t>(end - begin));
  std::iota(indices.begin(), indices.end(), begin);
  return Gather(indices.data(), end - begin, allocator);
}

int64_t FashionMnistData::NumEvaluationBatches(int64_t batch_size) const {
  CHECK_GT(batch_size, 0);
  return (num_examples() + batch_size - 1) / batch_size;
}

Batch FashionMnistData::EvaluationBatch(int64_t index, int64_t batch_size,
                                        Allocator* allocator) const {
  CHECK(index >= 0 && index < NumEvaluationBatches(batch_size)) << index;
  const int64_t begin = index * batch_size;
  return Range(begin, std::min(begin + batch_size, num_examples()), allocator);
}

absl::StatusOr<std::unique_ptr<FashionMnistDataset>> FashionMnistDataset::Create(
    FashionMnistData data, const FashionMnistOptions& options, std::string description) {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch size must be positive, got ", options.batch_size));
  }
  if (options.batch_size > data.num_examples()) {
    return absl::InvalidArgumentError(absl::StrCat("batch size ", options.batch_size,
                                                   " exceeds the ", data.num_examples(),
                                                   " examples of ", description));
  }
  return std::unique_ptr<FashionMnistDataset>(
      new FashionMnistDataset(std::move(data), options, std::move(description)));
}

std::string FashionMnistDataset::Describe() const {
  return absl::StrCat(description_, ": ", data_.num_examples(), " examples, ", batches_per_epoch(),
                      " batches of ", options_.batch_size, " per epoch, ",
                      options_.shuffle ? "shuffled" : "in file order");
}

TensorType FashionMnistDataset::features_type() const {
  return TensorType{DataType::kFloat32, Shape{options_.batch_size, kFashionMnistPixels}};
}

TensorType FashionMnistDataset::labels_type() const {
  return TensorType{DataType::kInt32, Shape{options_.batch_size}};
}

int64_t FashionMnistDataset::batches_per_epoch() const {
  return data_.num_examples() / options_.batch_size;
}

std::shared_ptr<const std::vector<int64_t>> FashionMnistDataset::Permutation(int64_t epoch) const {
  std::lock_guard<std::mutex> lock(permutation_mutex_);
  if (permutation_epoch_ != epoch) {
    permutation_ = std::make_shared<const std::vector<int64_t>>(
        EpochPermutation(data_.num_examples(), options_.seed, epoch));
    permutation_epoch_ = epoch;
  }
  return permutation_;
}

Batch FashionMnistDataset::GetBatch(int64_t step, Allocator* allocator) const {
  CHECK_GE(step, 0);
  const int64_t epoch = step / batches_per_epoch();
  const int64_t begin = (step % batches_per_epoch()) * options_.batch_size;
  if (!options_.shuffle) return data_.Range(begin, begin + options_.batch_size, allocator);
  std::shared_ptr<const std::vector<int64_t>> order = Permutation(epoch);
  return data_.Gather(order->data() + begin, options_.batch_size, allocator);
}

}  // namespace sbpflow
