#include "io/checkpoint_check.h"

#include "gtest/gtest.h"
#include "io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace sbpflow {
namespace {

TensorType F32(Shape shape) { return TensorType{DataType::kFloat32, std::move(shape)}; }

TEST(CheckpointCheckTest, MatchingTypesAreOk) {
  std::map<std::string, TensorType> types = {{"a", F32({2})}, {"b", F32({3, 4})}};
  EXPECT_TRUE(CheckpointMismatches("ckpt.safetensors", types, types).empty());
  EXPECT_TRUE(CheckCheckpointTypes("ckpt.safetensors", types, types).ok());
}

TEST(CheckpointCheckTest, ShapeMismatch) {
  EXPECT_EQ(CheckpointMismatches("ckpt.safetensors", {{"layer0.weight", F32({784, 256})}},
                                 {{"layer0.weight", F32({784, 128})}}),
            std::vector<std::string>{"ckpt.safetensors: tensor 'layer0.weight' has shape "
                                     "[784,128], the graph expects [784,256]"});
}

TEST(CheckpointCheckTest, DtypeMismatch) {
  EXPECT_EQ(CheckpointMismatches("ckpt.safetensors", {{"bias", F32({8})}},
                                 {{"bias", TensorType{DataType::kFloat64, Shape{8}}}}),
            std::vector<std::string>{
                "ckpt.safetensors: tensor 'bias' has dtype f64, the graph expects f32"});
}

TEST(CheckpointCheckTest, DtypeAndShapeMismatch) {
  EXPECT_EQ(CheckpointMismatches("ckpt.safetensors", {{"step", F32({})}},
                                 {{"step", TensorType{DataType::kInt64, Shape{1}}}}),
            std::vector<std::string>{
                "ckpt.safetensors: tensor 'step' has type i64[1], the graph expects f32[]"});
}

TEST(CheckpointCheckTest, ReportsEveryProblemInNameOrder) {
  std::map<std::string, TensorType> expected = {
      {"a", F32({2})}, {"c", F32({3})}, {"d", F32({4})}, {"f", F32({1})}};
  std::map<std::string, TensorType> actual = {
      {"b", F32({5})}, {"c", F32({3})}, {"d", F32({5})}, {"e", F32({6})}};
  absl::Status status = CheckCheckpointTypes("run/ckpt.safetensors", expected, actual);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "run/ckpt.safetensors: tensor 'a' is missing, the graph expects f32[2]\n"
            "run/ckpt.safetensors: tensor 'b' (f32[5]) is not in the graph\n"
            "run/ckpt.safetensors: tensor 'd' has shape [5], the graph expects [4]\n"
            "run/ckpt.safetensors: tensor 'e' (f32[6]) is not in the graph\n"
            "run/ckpt.safetensors: tensor 'f' is missing, the graph expects f32[1]");
}

TEST(CheckpointCheckTest, ChecksAFileIndexAgainstTheGraph) {
  CpuAllocator allocator;
  testing::ScratchFolder folder;
  std::string path = folder.File("ckpt.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"w", Tensor(&allocator, DataType::kFloat32, Shape{2, 3})},
                                      {"extra", Tensor(&allocator, DataType::kInt32, Shape{})}})
                  .ok());
  auto index = ReadSafetensorsIndex(path);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(CheckCheckpointTypes(path, {{"w", F32({3, 2})}}, index->types).message(),
            path + ": tensor 'extra' (i32[]) is not in the graph\n" + path +
                ": tensor 'w' has shape [2,3], the graph expects [3,2]");
}

TEST(CheckpointCheckTest, TensorTypesOfLoadedTensors) {
  CpuAllocator allocator;
  std::map<std::string, Tensor> tensors = {
      {"x", Tensor::FromVector<int64_t>(&allocator, Shape{2}, {1, 2})}};
  EXPECT_EQ(TensorTypes(tensors),
            (std::map<std::string, TensorType>{{"x", TensorType{DataType::kInt64, Shape{2}}}}));
}

}  // namespace
}  // namespace sbpflow
