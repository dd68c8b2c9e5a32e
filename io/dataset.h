// The interface every data set offers the training loop.
//
// A data set is a pure function of its construction parameters (including the
// seed): batch `step` holds the same values whenever, in whatever order and
// from whichever thread it is asked for. So runs are reproducible bit for bit
// and a run resumed from a checkpoint at step S sees exactly the batches an
// uninterrupted run would have seen.
#ifndef SBPFLOW_IO_DATASET_H_
#define SBPFLOW_IO_DATASET_H_

#include <cstdint>
#include <map>
#include <string>

#include "base/shape.h"
#include "kernel/allocator.h"
#include "kernel/tensor.h"

namespace sbpflow {

// The names of the two tensors in a Batch, matching the graph placeholders.
inline constexpr char kFeaturesName[] = "features";
inline constexpr char kLabelsName[] = "labels";

// kFeaturesName -> features, kLabelsName -> labels; dimension 0 is the batch.
using Batch = std::map<std::string, Tensor>;

// Implementations are immutable after construction and thread-safe.
class Dataset {
 public:
  virtual ~Dataset() = default;

  // A one-line description for logs, e.g. "fashion-mnist train: 60000 examples from DIR".
  virtual std::string Describe() const = 0;

  // The types of every batch's tensors; dimension 0 is the batch size.
  virtual TensorType features_type() const = 0;
  virtual TensorType labels_type() const = 0;
  int64_t batch_size() const { return features_type().shape.dim(0); }

  // Steps in one epoch: one pass over a finite data set, or a nominal count of
  // steps that reads about as much data for an endless stream. At least 1.
  virtual int64_t batches_per_epoch() const = 0;

  // Batch number `step` (counted from 0 across epochs), in tensors allocated
  // from `allocator` (not owned). Requires step >= 0.
  virtual Batch GetBatch(int64_t step, Allocator* allocator) const = 0;
};

}  // namespace sbpflow

#endif  // SBPFLOW_IO_DATASET_H_
