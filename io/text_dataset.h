// Byte-level language-model data from one text file (`--data text:PATH`).
//
// The vocabulary is the 256 byte values. A batch is B windows of T+1
// consecutive bytes at pseudo-random offsets: features i32 [B, T] are the
// first T bytes of each window, labels i32 [B, T] the next byte at every
// position (the window shifted by one).
#ifndef SBPFLOW_IO_TEXT_DATASET_H_
#define SBPFLOW_IO_TEXT_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "io/dataset.h"

namespace sbpflow {

inline constexpr int64_t kTextVocabularySize = 256;

struct TextOptions {
  int64_t batch_size = 0;
  // T: tokens per window fed to the model.
  int64_t sequence_length = 0;
  uint64_t seed = 0;
};

class TextDataset : public Dataset {
 public:
  // Reads the whole file. Errors: open failures (errno's code, "PATH: cannot
  // open: ..."); InvalidArgument for a non-positive batch size or sequence
  // length, and for a file shorter than T+1 bytes ("PATH: 5 bytes, too short
  // for one window of sequence length 8 plus 1 byte").
  static absl::StatusOr<std::unique_ptr<TextDataset>> Open(const std::string& path,
                                                           const TextOptions& options);

  // As Open, over `text` in memory; `name` stands for the file in messages.
  static absl::StatusOr<std::unique_ptr<TextDataset>> FromText(std::string name, std::string text,
                                                               const TextOptions& options);

  std::string Describe() const override;
  TensorType features_type() const override;
  TensorType labels_type() const override;
  // The steps that read about as many tokens as the file holds:
  // max(1, (size - 1) / (B * T)).
  int64_t batches_per_epoch() const override;
  // Window b of step s starts at offset
  // BoundedRandom(MixBits(MixBits(seed, s), b), size - T), uniformly over
  // every offset where a whole window fits.
  Batch GetBatch(int64_t step, Allocator* allocator) const override;

  int64_t WindowOffset(int64_t step, int64_t window) const;

 private:
  TextDataset(std::string name, std::string text, const TextOptions& options)
      : name_(std::move(name)), text_(std::move(text)), options_(options) {}

  std::string name_;
  std::string text_;
  TextOptions options_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_IO_TEXT_DATASET_H_
