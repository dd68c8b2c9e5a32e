// Fashion-MNIST (28x28 grey images of 10 kinds of clothing) from the gzip idx
// files of Debian's dataset-fashion-mnist package.
//
// Features are f32 [B, 784] with each pixel byte / 255 (nothing else: no
// mean/std normalization), labels i32 [B] in [0, 10).
#ifndef SBPFLOW_IO_FASHION_MNIST_H_
#define SBPFLOW_IO_FASHION_MNIST_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/dataset.h"

namespace sbpflow {

inline constexpr char kDefaultFashionMnistFolder[] = "/usr/share/datasets/fashion-mnist";
inline constexpr int64_t kFashionMnistImageSide = 28;
inline constexpr int64_t kFashionMnistPixels = 784;
inline constexpr int64_t kFashionMnistClasses = 10;

enum class FashionMnistSplit { kTrain, kTest };

// "train" or "test".
const char* FashionMnistSplitName(FashionMnistSplit split);

// The examples of one split, in file order, held as bytes. Copies share the
// (immutable) data; thread-safe.
class FashionMnistData {
 public:
  // Reads FOLDER/train-{images-idx3,labels-idx1}-ubyte.gz (kTrain) or
  // FOLDER/t10k-*-ubyte.gz (kTest). Errors: open failures (errno's code,
  // "PATH: cannot open: ..."); InvalidArgument naming the file for a corrupt
  // gzip stream, a bad magic number ("PATH: bad magic 0x00000000, expected
  // 0x00000803"), truncation, trailing data, images that are not 28x28, a
  // label outside [0, 10), and image and label counts that differ.
  static absl::StatusOr<FashionMnistData> Load(const std::string& folder, FashionMnistSplit split);

  // As Load, from the decompressed file contents; the names are for messages.
  static absl::StatusOr<FashionMnistData> Parse(const std::string& images_name,
                                                std::string images_bytes,
                                                const std::string& labels_name,
                                                std::string labels_bytes);

  int64_t num_examples() const { return static_cast<int64_t>(labels_->size()); }

  // The examples with the given indices (each in [0, num_examples())), in
  // that order: features f32 [n, 784], labels i32 [n].
  Batch Gather(const int64_t* indices, int64_t count, Allocator* allocator) const;

  // Examples [begin, end) in file order. Requires 0 <= begin <= end <= num_examples().
  Batch Range(int64_t begin, int64_t end, Allocator* allocator) const;

  // Evaluation in file order covering every example once: batch k holds
  // examples [k*B, min((k+1)*B, N)), so the last one may be smaller.
  int64_t NumEvaluationBatches(int64_t batch_size) const;
  Batch EvaluationBatch(int64_t index, int64_t batch_size, Allocator* allocator) const;

 private:
  FashionMnistData(std::shared_ptr<const std::string> pixels,
                   std::shared_ptr<const std::vector<int32_t>> labels)
      : pixels_(std::move(pixels)), labels_(std::move(labels)) {}

  std::shared_ptr<const std::string> pixels_;
  std::shared_ptr<const std::vector<int32_t>> labels_;
};

struct FashionMnistOptions {
  int64_t batch_size = 0;
  uint64_t seed = 0;
  // Off: batch k of every epoch is examples [k*B, (k+1)*B) in file order.
  // On: epoch e visits the examples in EpochPermutation(N, seed, e) order.
  // Either way the last partial batch of an epoch is dropped.
  bool shuffle = true;
};

// Training batches over one split: N / B batches per epoch.
class FashionMnistDataset : public Dataset {
 public:
  // `description` names the source in Describe(). Errors (InvalidArgument):
  // batch size below 1 or above the number of examples.
  static absl::StatusOr<std::unique_ptr<FashionMnistDataset>> Create(
      FashionMnistData data, const FashionMnistOptions& options, std::string description);

  std::string Describe() const override;
  TensorType features_type() const override;
  TensorType labels_type() const override;
  int64_t batches_per_epoch() const override;
  Batch GetBatch(int64_t step, Allocator* allocator) const override;

  const FashionMnistData& data() const { return data_; }

 private:
  FashionMnistDataset(FashionMnistData data, const FashionMnistOptions& options,
                      std::string description)
      : data_(std::move(data)), options_(options), description_(std::move(description)) {}

  // The permutation of `epoch`, computed once per epoch rather than per step.
  std::shared_ptr<const std::vector<int64_t>> Permutation(int64_t epoch) const;

  FashionMnistData data_;
  FashionMnistOptions options_;
  std::string description_;

  mutable std::mutex permutation_mutex_;
  mutable int64_t permutation_epoch_ = -1;
  mutable std::shared_ptr<const std::vector<int64_t>> permutation_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_IO_FASHION_MNIST_H_
