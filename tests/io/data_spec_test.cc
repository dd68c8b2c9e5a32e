#include "io/data_spec.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "tests/io/io_test_util.h"

namespace sbpflow {
namespace {

using ::sbpflow::testing::ScratchFolder;
using ::sbpflow::testing::WriteBytes;

TEST(DataSpecTest, ParsesEveryForm) {
  auto default_folder = ParseDataSpec("fashion-mnist");
  ASSERT_TRUE(default_folder.ok());
  EXPECT_EQ(*default_folder,
            (DataSpec{DataSpec::Kind::kFashionMnist, "/usr/share/datasets/fashion-mnist"}));
  EXPECT_EQ(default_folder->ToString(), "fashion-mnist:/usr/share/datasets/fashion-mnist");

  auto folder = ParseDataSpec("fashion-mnist:data/fm");
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(*folder, (DataSpec{DataSpec::Kind::kFashionMnist, "data/fm"}));

  auto text = ParseDataSpec("text:/tmp/a:b.txt");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, (DataSpec{DataSpec::Kind::kText, "/tmp/a:b.txt"}));
  EXPECT_EQ(text->ToString(), "text:/tmp/a:b.txt");

  auto synthetic = ParseDataSpec("synthetic");
  ASSERT_TRUE(synthetic.ok());
  EXPECT_EQ(*synthetic, (DataSpec{DataSpec::Kind::kSynthetic, ""}));
  EXPECT_EQ(synthetic->ToString(), "synthetic");
}

TEST(DataSpecTest, RejectsUnknownForms) {
  for (const char* text : {"foo", "", "mnist", "Fashion-MNIST", "synthetic:x", "text",
                           "fashion-mnist/", " synthetic"}) {
    auto spec = ParseDataSpec(text);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(std::string(spec.status().message()),
              std::string("--data: unknown data set '") + text +
                  "' (expected fashion-mnist, text:PATH or synthetic)");
  }
  EXPECT_EQ(ParseDataSpec("text:").status().message(),
            "--data: 'text:' needs a path after the colon");
  EXPECT_EQ(ParseDataSpec("fashion-mnist:").status().message(),
            "--data: 'fashion-mnist:' needs a path after the colon");
}

TEST(DataSpecTest, OpensText) {
  ScratchFolder folder;
  const std::string path = folder.File("t.txt");
  WriteBytes(path, "abcdefgh");
  DatasetRequest request;
  request.batch_size = 2;
  request.sequence_length = 3;
  auto dataset = OpenDataset(DataSpec{DataSpec::Kind::kText, path}, request);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->features_type().ToString(), "i32[2,3]");
}

TEST(DataSpecTest, OpensSyntheticWithTheRequestsBatchAndSeed) {
  DatasetRequest request;
  request.batch_size = 6;
  request.seed = 9;
  request.synthetic.batch_size = 1;
  request.synthetic.example_features_shape = Shape{3};
  request.synthetic.num_classes = 2;
  auto dataset = OpenDataset(DataSpec{DataSpec::Kind::kSynthetic, ""}, request);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->Describe(), "synthetic: features f32[6,3], labels i32[6], seed 9");
}

TEST(DataSpecTest, FashionMnistErrorsNameTheFile) {
  ScratchFolder folder;
  DatasetRequest request;
  request.batch_size = 2;
  request.split = FashionMnistSplit::kTest;
  auto dataset = OpenDataset(DataSpec{DataSpec::Kind::kFashionMnist, folder.path()}, request);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(std::string(dataset.status().message()),
            folder.File("t10k-images-idx3-ubyte.gz") + ": cannot open: No such file or directory");
}

TEST(DataSpecTest, OpensInstalledFashionMnist) {
  if (!std::filesystem::exists(kDefaultFashionMnistFolder)) {
    GTEST_SKIP() << kDefaultFashionMnistFolder << " is not installed";
  }
  DatasetRequest request;
  request.batch_size = 1000;
  request.split = FashionMnistSplit::kTest;
  request.shuffle = false;
  auto dataset = OpenDataset(*ParseDataSpec("fashion-mnist"), request);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->batches_per_epoch(), 10);
  EXPECT_EQ((*dataset)->Describe(),
            "fashion-mnist test (/usr/share/datasets/fashion-mnist): 10000 examples, 10 batches "
            "of 1000 per epoch, in file order");
}

}  // namespace
}  // namespace sbpflow
