// The CLI's --data value and the data set it names.
//
//   fashion-mnist        Fashion-MNIST from kDefaultFashionMnistFolder
//   fashion-mnist:DIR    Fashion-MNIST from DIR
//   text:PATH            byte-level text from the file PATH
//   synthetic            pseudo-random batches shaped like the model's inputs
#ifndef SBPFLOW_IO_DATA_SPEC_H_
#define SBPFLOW_IO_DATA_SPEC_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "io/dataset.h"
#include "io/fashion_mnist.h"
#include "io/synthetic_dataset.h"

namespace sbpflow {

struct DataSpec {
  enum class Kind { kFashionMnist, kText, kSynthetic };
  Kind kind = Kind::kSynthetic;
  // kFashionMnist: the folder; kText: the file; kSynthetic: empty.
  std::string path;

  // The canonical --data text: "fashion-mnist:DIR", "text:PATH", "synthetic".
  std::string ToString() const;
  bool operator==(const DataSpec& other) const { return kind == other.kind && path == other.path; }
};

// Parses a --data value. Errors (InvalidArgument): an empty DIR or PATH
// ("--data: 'text:' needs a path after the colon"), anything else
// ("--data: unknown data set 'foo' (expected fashion-mnist, text:PATH or synthetic)").
absl::StatusOr<DataSpec> ParseDataSpec(absl::string_view text);

// Everything any data set may need; each kind reads the fields it uses.
struct DatasetRequest {
  int64_t batch_size = 0;
  uint64_t seed = 0;
  // Fashion-MNIST: which split, and whether epochs are shuffled.
  FashionMnistSplit split = FashionMnistSplit::kTrain;
  bool shuffle = true;
  // Text: tokens per window.
  int64_t sequence_length = 0;
  // Synthetic: the shapes and ranges; its batch_size and seed are replaced by
  // the ones above.
  SyntheticOptions synthetic;
};

// Opens the data set `spec` names. Errors are those of FashionMnistData::Load
// and FashionMnistDataset::Create, TextDataset::Open, SyntheticDataset::Create.
absl::StatusOr<std::unique_ptr<Dataset>> OpenDataset(const DataSpec& spec,
                                                     const DatasetRequest& request);

}  // namespace sbpflow

#endif  // SBPFLOW_IO_DATA_SPEC_H_
