#include "io/safetensors.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"
#include "io/safetensors_header.h"
#include "tests/io/io_test_util.h"

namespace sbpflow {
namespace {

using ::sbpflow::testing::ReadBytes;
using ::sbpflow::testing::ScratchFolder;
using ::sbpflow::testing::WriteBytes;

std::string LengthPrefix(uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return bytes;
}

// A file built by hand from the specification: metadata first, tensors in name
// order, offsets relative to the data, header padded with spaces to 8 bytes.
std::string ReferenceFile() {
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("a":{"dtype":"I32","shape":[],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_EQ(header.size(), 138u);
  header += "      ";  // 138 + 6 = 144, a multiple of 8.
  std::string data = {7,
                      0,
                      0,
                      0,  // a = 7
                      0,
                      0,
                      static_cast<char>(0x80),
                      0x3F,  // 1.0f
                      0,
                      0,
                      0x20,
                      static_cast<char>(0xC0)};  // -2.5f
  return LengthPrefix(header.size()) + header + data;
}

std::map<std::string, Tensor> ReferenceTensors(Allocator* allocator) {
  return {{"b", Tensor::FromVector<float>(allocator, Shape{2}, {1.0f, -2.5f})},
          {"a", Tensor::FromVector<int32_t>(allocator, Shape{}, {7})}};
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.type() == b.type() && a.num_bytes() == b.num_bytes() &&
         (a.num_bytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0);
}

TEST(SafetensorsTest, SerializeMatchesHandBuiltReference) {
  CpuAllocator allocator;
  auto bytes = SerializeSafetensors(ReferenceTensors(&allocator), {{"format", "pt"}});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, ReferenceFile());
}

TEST(SafetensorsTest, WriteProducesReferenceBytesWithAlignedData) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("reference.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, ReferenceTensors(&allocator), {{"format", "pt"}}).ok());
  std::string bytes = ReadBytes(path);
  EXPECT_EQ(bytes, ReferenceFile());
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length, 144u);
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(bytes.substr(8 + 138, 6), "      ");
  EXPECT_EQ(bytes.size(), 8 + 144 + 12u);
}

TEST(SafetensorsTest, HeaderIsPaddedToEightBytesForEveryLength) {
  for (int length = 1; length <= 9; ++length) {
    std::map<std::string, TensorType> types = {
        {std::string(length, 'n'), TensorType{DataType::kFloat32, Shape{1}}}};
    auto header = EncodeSafetensorsHeader(types, {});
    ASSERT_TRUE(header.ok());
    EXPECT_EQ(header->size() % 8, 0u) << *header;
    std::string json = R"({")" + std::string(length, 'n') +
                       R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    EXPECT_EQ(*header, json + std::string(header->size() - json.size(), ' '));
    EXPECT_LT(header->size() - json.size(), 8u);
  }
}

TEST(SafetensorsTest, ReadsReferenceFile) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("reference.safetensors");
  WriteBytes(path, ReferenceFile());
  auto checkpoint = ReadSafetensors(path, &allocator);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  ASSERT_EQ(checkpoint->tensors.size(), 2u);
  EXPECT_EQ(checkpoint->tensors.at("a").type().ToString(), "i32[]");
  EXPECT_EQ(checkpoint->tensors.at("a").ToVector<int32_t>(), std::vector<int32_t>{7});
  EXPECT_EQ(checkpoint->tensors.at("b").ToVector<float>(), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(checkpoint->metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST(SafetensorsTest, RoundTripsEveryDtypeBitForBit) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("all.safetensors");
  float denormal_f32 = std::numeric_limits<float>::denorm_min();
  std::map<std::string, Tensor> tensors = {
      {"f32", Tensor::FromVector<float>(&allocator, Shape{2, 3},
                                        {0.0f, -0.0f, 1.5f, std::numeric_limits<float>::infinity(),
                                         std::nanf("7"), denormal_f32})},
      {"f64", Tensor::FromVector<double>(
                  &allocator, Shape{3},
                  {-1e300, std::numeric_limits<double>::denorm_min(), std::nan("3")})},
      {"i32", Tensor::FromVector<int32_t>(&allocator, Shape{2, 2},
                                          {std::numeric_limits<int32_t>::min(), -1, 0,
                                           std::numeric_limits<int32_t>::max()})},
      {"i64", Tensor::FromVector<int64_t>(
                  &allocator, Shape{2},
                  {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()})},
      {"bool", Tensor::FromVector<bool>(&allocator, Shape{5}, {true, false, false, true, true})},
      {"scalar", Tensor::FromVector<double>(&allocator, Shape{}, {2.25})},
      {"empty", Tensor(&allocator, DataType::kFloat32, Shape{0, 4})},
  };
  std::map<std::string, std::string> metadata = {{"step", "12"}, {"note", "héllo \"x\"\n"}};
  ASSERT_TRUE(WriteSafetensors(path, tensors, metadata).ok());

  auto checkpoint = ReadSafetensors(path, &allocator);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->metadata, metadata);
  ASSERT_EQ(checkpoint->tensors.size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    ASSERT_EQ(checkpoint->tensors.count(name), 1u) << name;
    EXPECT_TRUE(SameBytes(checkpoint->tensors.at(name), tensor)) << name;
  }
  EXPECT_EQ(checkpoint->tensors.at("bool").ToVector<bool>(),
            (std::vector<bool>{true, false, false, true, true}));

  auto index = ReadSafetensorsIndex(path);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->types.at("empty").ToString(), "f32[0,4]");
  EXPECT_EQ(index->types.at("bool").ToString(), "bool[5]");
  EXPECT_EQ(index->metadata, metadata);
}

TEST(SafetensorsTest, ReadsDataLaidOutInAnyOrder) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("foreign.safetensors");
  // Another writer may order data differently from names; "z" comes first here.
  std::string header = R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[4,12]},)"
                       R"("z":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})";
  std::string data = {5, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0};
  WriteBytes(path, LengthPrefix(header.size()) + header + data);
  auto checkpoint = ReadSafetensors(path, &allocator);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->tensors.at("a").ToVector<int64_t>(), std::vector<int64_t>{9});
  EXPECT_EQ(checkpoint->tensors.at("z").ToVector<int32_t>(), std::vector<int32_t>{5});
}

TEST(SafetensorsTest, WriteLeavesNoTemporaryFilesAndReplacesOldFile) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("model.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, ReferenceTensors(&allocator), {{"format", "pt"}}).ok());
  std::map<std::string, Tensor> second = {
      {"w", Tensor::FromVector<float>(&allocator, Shape{1}, {3.0f})}};
  ASSERT_TRUE(WriteSafetensors(path, second).ok());
  EXPECT_EQ(folder.List(), std::vector<std::string>{"model.safetensors"});
  auto checkpoint = ReadSafetensors(path, &allocator);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->tensors.size(), 1u);
  EXPECT_EQ(checkpoint->tensors.at("w").ToVector<float>(), std::vector<float>{3.0f});
}

TEST(SafetensorsTest, WriteIntoMissingFolderFailsAndCreatesNothing) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("missing/model.safetensors");
  absl::Status status = WriteSafetensors(path, ReferenceTensors(&allocator));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), path + ": cannot create a temporary file in " +
                                  folder.File("missing") + ": No such file or directory");
  EXPECT_TRUE(folder.List().empty());
}

TEST(SafetensorsTest, FailedRenameRemovesTemporaryFile) {
  CpuAllocator allocator;
  ScratchFolder folder;
  // A folder sits where the file should go, so only the final rename fails.
  std::string path = folder.File("taken");
  ASSERT_TRUE(std::filesystem::create_directory(path));
  absl::Status status = WriteSafetensors(path, ReferenceTensors(&allocator));
  EXPECT_EQ(status.message(),
            path + ": cannot rename the temporary file into place: Is a directory");
  EXPECT_EQ(folder.List(), std::vector<std::string>{"taken"});
  EXPECT_TRUE(std::filesystem::is_empty(path));
}

TEST(SafetensorsTest, InvalidTensorIsRejectedBeforeTouchingTheFile) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("model.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, ReferenceTensors(&allocator), {{"format", "pt"}}).ok());
  std::map<std::string, Tensor> broken = {{"x", Tensor()}};
  absl::Status status = WriteSafetensors(path, broken);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), path + ": tensor 'x' has no dtype");
  EXPECT_EQ(folder.List(), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(ReadBytes(path), ReferenceFile());
}

TEST(SafetensorsTest, RejectsReservedAndNonUtf8Names) {
  CpuAllocator allocator;
  Tensor one = Tensor::FromVector<float>(&allocator, Shape{1}, {1.0f});
  EXPECT_EQ(SerializeSafetensors({{"__metadata__", one}}).status().message(),
            "a tensor may not be named '__metadata__'");
  EXPECT_EQ(SerializeSafetensors({{"bad\xff", one}}).status().message(),
            "tensor name 'bad\xff' is not valid UTF-8");
  EXPECT_EQ(SerializeSafetensors({{"w", one}}, {{"k", "\xc3"}}).status().message(),
            "metadata entry 'k' is not valid UTF-8");
}

TEST(SafetensorsTest, EmptyCheckpointRoundTrips) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("empty.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {}).ok());
  EXPECT_EQ(ReadBytes(path), LengthPrefix(8) + "{}      ");
  auto checkpoint = ReadSafetensors(path, &allocator);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_TRUE(checkpoint->tensors.empty());
  EXPECT_TRUE(checkpoint->metadata.empty());
}

}  // namespace
}  // namespace sbpflow
