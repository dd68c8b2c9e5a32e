#include "io/synthetic_dataset.h"

#include <cstring>

#include "gtest/gtest.h"

namespace sbpflow {
namespace {

SyntheticOptions ImageOptions() {
  return {.batch_size = 4,
          .seed = 3,
          .example_features_shape = Shape{784},
          .features_dtype = DataType::kFloat32,
          .example_labels_shape = Shape{},
          .labels_dtype = DataType::kInt32,
          .num_classes = 10};
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.type() == b.type() && std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

TEST(SyntheticDatasetTest, ShapesAndPinnedValues) {
  auto dataset = SyntheticDataset::Create(ImageOptions());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->features_type().ToString(), "f32[4,784]");
  EXPECT_EQ((*dataset)->labels_type().ToString(), "i32[4]");
  EXPECT_EQ((*dataset)->batch_size(), 4);
  EXPECT_EQ((*dataset)->batches_per_epoch(), 100);
  EXPECT_EQ((*dataset)->Describe(), "synthetic: features f32[4,784], labels i32[4], seed 3");
  CpuAllocator allocator;
  Batch batch = (*dataset)->GetBatch(0, &allocator);
  // Pinned against an independent model of the documented streams.
  const float* features = batch.at(kFeaturesName).data<float>();
  EXPECT_EQ(features[0], 0.32982194423675537f);
  EXPECT_EQ(features[1], 0.04599732160568237f);
  EXPECT_EQ(features[2], 0.9141153693199158f);
  EXPECT_EQ(batch.at(kLabelsName).ToVector<int32_t>(), (std::vector<int32_t>{6, 8, 1, 6}));
}

TEST(SyntheticDatasetTest, DeterministicPerSeedAndStep) {
  auto first = SyntheticDataset::Create(ImageOptions());
  auto second = SyntheticDataset::Create(ImageOptions());
  SyntheticOptions options = ImageOptions();
  options.seed = 4;
  auto other = SyntheticDataset::Create(options);
  ASSERT_TRUE(first.ok() && second.ok() && other.ok());
  CpuAllocator allocator;
  Batch a = (*first)->GetBatch(9, &allocator);
  Batch b = (*second)->GetBatch(9, &allocator);
  EXPECT_TRUE(SameBytes(a.at(kFeaturesName), b.at(kFeaturesName)));
  EXPECT_TRUE(SameBytes(a.at(kLabelsName), b.at(kLabelsName)));
  EXPECT_FALSE(SameBytes(a.at(kFeaturesName), (*first)->GetBatch(8, &allocator).at(kFeaturesName)));
  EXPECT_FALSE(SameBytes(a.at(kFeaturesName), (*other)->GetBatch(9, &allocator).at(kFeaturesName)));
}

TEST(SyntheticDatasetTest, ValuesStayInRange) {
  SyntheticOptions options = {.batch_size = 8,
                              .seed = 1,
                              .example_features_shape = Shape{16},
                              .features_dtype = DataType::kInt64,
                              .vocabulary_size = 5,
                              .example_labels_shape = Shape{16},
                              .labels_dtype = DataType::kInt32,
                              .num_classes = 5};
  auto tokens = SyntheticDataset::Create(options);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ((*tokens)->features_type().ToString(), "i64[8,16]");
  EXPECT_EQ((*tokens)->labels_type().ToString(), "i32[8,16]");
  CpuAllocator allocator;
  std::vector<int> token_counts(5, 0);
  for (int64_t step = 0; step < 10; ++step) {
    Batch batch = (*tokens)->GetBatch(step, &allocator);
    for (int64_t token : batch.at(kFeaturesName).ToVector<int64_t>()) {
      ASSERT_TRUE(token >= 0 && token < 5) << token;
      ++token_counts[token];
    }
    for (int32_t label : batch.at(kLabelsName).ToVector<int32_t>()) {
      ASSERT_TRUE(label >= 0 && label < 5) << label;
    }
  }
  for (int count : token_counts) EXPECT_GT(count, 0);

  options.features_dtype = DataType::kFloat64;
  options.labels_dtype = DataType::kFloat32;
  auto floats = SyntheticDataset::Create(options);
  ASSERT_TRUE(floats.ok()) << floats.status();
  Batch batch = (*floats)->GetBatch(0, &allocator);
  for (double value : batch.at(kFeaturesName).ToVector<double>()) {
    ASSERT_TRUE(value >= 0.0 && value < 1.0) << value;
  }
  for (float value : batch.at(kLabelsName).ToVector<float>()) {
    ASSERT_TRUE(value >= 0.0f && value < 1.0f) << value;
  }
}

TEST(SyntheticDatasetTest, RejectsBadOptions) {
  SyntheticOptions options = ImageOptions();
  options.features_dtype = DataType::kInt32;
  EXPECT_EQ(SyntheticDataset::Create(options).status().message(),
            "synthetic i32 features need a positive vocabulary size, got 0");
  options = ImageOptions();
  options.num_classes = 0;
  EXPECT_EQ(SyntheticDataset::Create(options).status().message(),
            "synthetic i32 labels need a positive number of classes, got 0");
  options = ImageOptions();
  options.labels_dtype = DataType::kBool;
  EXPECT_EQ(SyntheticDataset::Create(options).status().message(),
            "synthetic labels dtype bool is not supported (expected f32, f64, i32 or i64)");
  options = ImageOptions();
  options.example_features_shape = Shape{-1};
  EXPECT_EQ(SyntheticDataset::Create(options).status().message(),
            "synthetic features shape [?] has an unknown dimension");
  options = ImageOptions();
  options.batch_size = -2;
  EXPECT_EQ(SyntheticDataset::Create(options).status().message(),
            "batch size must be positive, got -2");
  options = ImageOptions();
  options.batches_per_epoch = 0;
  EXPECT_EQ(SyntheticDataset::Create(options).status().message(),
            "synthetic batches per epoch must be positive, got 0");
}

}  // namespace
}  // namespace sbpflow
