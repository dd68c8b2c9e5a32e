#include "io/data_spec.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "io/text_dataset.h"

namespace sbpflow {
namespace {

constexpr absl::string_view kFashionMnist = "fashion-mnist";
constexpr absl::string_view kText = "text";
constexpr absl::string_view kSynthetic = "synthetic";

// "text:PATH" -> PATH when `text` starts with "NAME:"; nullopt otherwise.
absl::StatusOr<std::optional<std::string>> SuffixAfter(absl::string_view text,
                                                       absl::string_view name) {
  const std::string prefix = absl::StrCat(name, ":");
  if (!absl::StartsWith(text, prefix)) return std::optional<std::string>();
  text.remove_prefix(prefix.size());
  if (text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data: '", prefix, "' needs a path after the colon"));
  }
  return std::optional<std::string>(std::string(text));
}

}  // namespace

std::string DataSpec::ToString() const {
  switch (kind) {
    case Kind::kFashionMnist:
      return absl::StrCat(kFashionMnist, ":", path);
    case Kind::kText:
      return absl::StrCat(kText, ":", path);
    case Kind::kSynthetic:
      break;
  }
  return std::string(kSynthetic);
}

absl::StatusOr<DataSpec> ParseDataSpec(absl::string_view text) {
  if (text == kFashionMnist)
    return DataSpec{DataSpec::Kind::kFashionMnist, kDefaultFashionMnistFolder};
  if (text == kSynthetic) return DataSpec{DataSpec::Kind::kSynthetic, ""};
  SBP_ASSIGN_OR_RETURN(std::optional<std::string> folder, SuffixAfter(text, kFashionMnist));
  if (folder.has_value()) return DataSpec{DataSpec::Kind::kFashionMnist, *std::move(folder)};
  SBP_ASSIGN_OR_RETURN(std::optional<std::string> path, SuffixAfter(text, kText));
  if (path.has_value()) return DataSpec{DataSpec::Kind::kText, *std::move(path)};
  return absl::InvalidArgumentError(absl::StrCat(
      "--data: unknown data set '", text, "' (expected fashion-mnist, text:PATH or synthetic)"));
}

absl::StatusOr<std::unique_ptr<Dataset>> OpenDataset(const DataSpec& spec,
                                                     const DatasetRequest& request) {
  switch (spec.kind) {
    case DataSpec::Kind::kFashionMnist: {
      SBP_ASSIGN_OR_RETURN(FashionMnistData data, FashionMnistData::Load(spec.path, request.split));
      FashionMnistOptions options;
      options.batch_size = request.batch_size;
      options.seed = request.seed;
      options.shuffle = request.shuffle;
      SBP_ASSIGN_OR_RETURN(std::unique_ptr<FashionMnistDataset> dataset,
                           FashionMnistDataset::Create(
                               std::move(data), options,
                               absl::StrCat("fashion-mnist ", FashionMnistSplitName(request.split),
                                            " (", spec.path, ")")));
      return std::unique_ptr<Dataset>(std::move(dataset));
    }
    case DataSpec::Kind::kText: {
      TextOptions options;
      options.batch_size = request.batch_size;
      options.sequence_length = request.sequence_length;
      options.seed = request.seed;
      SBP_ASSIGN_OR_RETURN(std::unique_ptr<TextDataset> dataset,
                           TextDataset::Open(spec.path, options));
      return std::unique_ptr<Dataset>(std::move(dataset));
    }
    case DataSpec::Kind::kSynthetic:
      break;
  }
  SyntheticOptions options = request.synthetic;
  options.batch_size = request.batch_size;
  options.seed = request.seed;
  SBP_ASSIGN_OR_RETURN(std::unique_ptr<SyntheticDataset> dataset,
                       SyntheticDataset::Create(options));
  return std::unique_ptr<Dataset>(std::move(dataset));
}

}  // namespace sbpflow
