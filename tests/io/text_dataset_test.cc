#include "io/text_dataset.h"

#include <set>

#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"

namespace sbpflow {
namespace {

using ::sbpflow::testing::ScratchFolder;
using ::sbpflow::testing::WriteBytes;

const char kText[] = "0123456789abcdef";  // 16 bytes.

std::vector<int32_t> Codes(const std::string& text) {
  return std::vector<int32_t>(text.begin(), text.end());
}

TEST(TextDatasetTest, WindowsAreNextByteShifted) {
  auto dataset =
      TextDataset::FromText("mem", kText, {.batch_size = 3, .sequence_length = 4, .seed = 7});
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->features_type().ToString(), "i32[3,4]");
  EXPECT_EQ((*dataset)->labels_type().ToString(), "i32[3,4]");
  // Offsets pinned against an independent model of the documented formula:
  // BoundedRandom(MixBits(MixBits(7, step), window), 16 - 4).
  EXPECT_EQ((*dataset)->WindowOffset(0, 0), 8);
  EXPECT_EQ((*dataset)->WindowOffset(0, 1), 7);
  EXPECT_EQ((*dataset)->WindowOffset(0, 2), 6);
  EXPECT_EQ((*dataset)->WindowOffset(1, 2), 10);
  CpuAllocator allocator;
  Batch batch = (*dataset)->GetBatch(0, &allocator);
  EXPECT_EQ(batch.at(kFeaturesName).ToVector<int32_t>(), Codes("89ab789a6789"));
  EXPECT_EQ(batch.at(kLabelsName).ToVector<int32_t>(), Codes("9abc89ab789a"));
}

TEST(TextDatasetTest, DeterministicPerSeedAndStep) {
  TextOptions options = {.batch_size = 4, .sequence_length = 3, .seed = 11};
  auto first = TextDataset::FromText("mem", kText, options);
  auto second = TextDataset::FromText("mem", kText, options);
  options.seed = 12;
  auto other_seed = TextDataset::FromText("mem", kText, options);
  ASSERT_TRUE(first.ok() && second.ok() && other_seed.ok());
  CpuAllocator allocator;
  std::vector<int32_t> step5 =
      (*second)->GetBatch(5, &allocator).at(kFeaturesName).ToVector<int32_t>();
  EXPECT_EQ((*first)->GetBatch(5, &allocator).at(kFeaturesName).ToVector<int32_t>(), step5);
  EXPECT_NE((*first)->GetBatch(4, &allocator).at(kFeaturesName).ToVector<int32_t>(), step5);
  EXPECT_NE((*other_seed)->GetBatch(5, &allocator).at(kFeaturesName).ToVector<int32_t>(), step5);
}

TEST(TextDatasetTest, OffsetsReachEveryWholeWindowAndNoMore) {
  // 6 bytes, T = 3: windows of 4 bytes start at 0, 1 or 2.
  auto dataset =
      TextDataset::FromText("mem", "abcdef", {.batch_size = 2, .sequence_length = 3, .seed = 1});
  ASSERT_TRUE(dataset.ok());
  std::set<int64_t> offsets;
  for (int64_t step = 0; step < 200; ++step) {
    for (int64_t window = 0; window < 2; ++window) {
      offsets.insert((*dataset)->WindowOffset(step, window));
    }
  }
  EXPECT_EQ(offsets, (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ((*dataset)->batches_per_epoch(), 1);
}

TEST(TextDatasetTest, TokensCoverAllByteValues) {
  std::string text = {static_cast<char>(0xFF), 0x00, static_cast<char>(0x80)};
  auto dataset =
      TextDataset::FromText("mem", text, {.batch_size = 1, .sequence_length = 2, .seed = 0});
  ASSERT_TRUE(dataset.ok());
  CpuAllocator allocator;
  Batch batch = (*dataset)->GetBatch(0, &allocator);
  EXPECT_EQ(batch.at(kFeaturesName).ToVector<int32_t>(), (std::vector<int32_t>{255, 0}));
  EXPECT_EQ(batch.at(kLabelsName).ToVector<int32_t>(), (std::vector<int32_t>{0, 128}));
  EXPECT_EQ(kTextVocabularySize, 256);
}

TEST(TextDatasetTest, OpensAFileAndRejectsOneTooShort) {
  ScratchFolder folder;
  const std::string path = folder.File("corpus.txt");
  WriteBytes(path, "hello");
  auto exact = TextDataset::Open(path, {.batch_size = 2, .sequence_length = 4, .seed = 0});
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ((*exact)->Describe(), "text " + path + ": 5 bytes, 2 windows of 4 tokens per batch");
  auto too_short = TextDataset::Open(path, {.batch_size = 2, .sequence_length = 5, .seed = 0});
  EXPECT_EQ(too_short.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(too_short.status().message()),
            path + ": 5 bytes, too short for one window of sequence length 5 plus 1 byte");
}

TEST(TextDatasetTest, RejectsMissingFileAndBadOptions) {
  ScratchFolder folder;
  const std::string path = folder.File("none.txt");
  auto missing = TextDataset::Open(path, {.batch_size = 1, .sequence_length = 1});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(missing.status().message()),
            path + ": cannot open: No such file or directory");
  EXPECT_EQ(TextDataset::FromText("mem", kText, {.batch_size = 0, .sequence_length = 1})
                .status()
                .message(),
            "batch size must be positive, got 0");
  EXPECT_EQ(TextDataset::FromText("mem", kText, {.batch_size = 1, .sequence_length = 0})
                .status()
                .message(),
            "sequence length must be positive, got 0");
}

TEST(TextDatasetTest, EpochIsAboutOnePassOverTheTokens) {
  std::string text(1001, 'x');
  auto dataset =
      TextDataset::FromText("mem", text, {.batch_size = 4, .sequence_length = 25, .seed = 0});
  ASSERT_TRUE(dataset.ok());
  EXPECT_EQ((*dataset)->batches_per_epoch(), 10);
}

}  // namespace
}  // namespace sbpflow
