// Pseudo-random batches of any shape, for benchmarks: no I/O, no files, the
// same values for the same (seed, step) on every machine.
#ifndef SBPFLOW_IO_SYNTHETIC_DATASET_H_
#define SBPFLOW_IO_SYNTHETIC_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "io/dataset.h"

namespace sbpflow {

struct SyntheticOptions {
  int64_t batch_size = 0;
  uint64_t seed = 0;
  // One example's features (the batch dimension is prepended). Floating
  // features are uniform in [0, 1); integer features are tokens uniform in
  // [0, vocabulary_size).
  Shape example_features_shape;
  DataType features_dtype = DataType::kFloat32;
  int64_t vocabulary_size = 0;
  // One example's labels: [] for one class per example, [T] for one per token.
  // Integer labels are uniform in [0, num_classes); floating ones in [0, 1).
  Shape example_labels_shape;
  DataType labels_dtype = DataType::kInt32;
  int64_t num_classes = 0;
  // The nominal epoch length reported by batches_per_epoch().
  int64_t batches_per_epoch = 100;
};

class SyntheticDataset : public Dataset {
 public:
  // Errors (InvalidArgument): a non-positive batch size or epoch length, an
  // example shape with a negative dimension, a bool or invalid dtype, integer
  // features without a positive vocabulary_size, integer labels without a
  // positive num_classes.
  static absl::StatusOr<std::unique_ptr<SyntheticDataset>> Create(const SyntheticOptions& options);

  std::string Describe() const override;
  TensorType features_type() const override;
  TensorType labels_type() const override;
  int64_t batches_per_epoch() const override { return options_.batches_per_epoch; }
  // Element i of the features of step s derives from MixBits(MixBits(MixBits(seed, s), 0), i),
  // of the labels from MixBits(MixBits(MixBits(seed, s), 1), i).
  Batch GetBatch(int64_t step, Allocator* allocator) const override;

 private:
  explicit SyntheticDataset(const SyntheticOptions& options) : options_(options) {}

  SyntheticOptions options_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_IO_SYNTHETIC_DATASET_H_
