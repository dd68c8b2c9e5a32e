// Every way a safetensors file can be broken yields InvalidArgument with an
// exact message naming the file (and the tensor), never a crash.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "io/safetensors.h"
#include "tests/io/io_test_util.h"

namespace sbpflow {
namespace {

using ::sbpflow::testing::ScratchFolder;
using ::sbpflow::testing::WriteBytes;

std::string LengthPrefix(uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return bytes;
}

std::string File(const std::string& header, const std::string& data) {
  return LengthPrefix(header.size()) + header + data;
}

std::string Zeros(size_t count) { return std::string(count, '\0'); }

struct CorruptCase {
  std::string name;
  std::string bytes;
  // The message after "PATH: ".
  std::string message;
};

void PrintTo(const CorruptCase& corrupt_case, std::ostream* out) { *out << corrupt_case.name; }

std::vector<CorruptCase> Cases() {
  const std::string f32x2 = R"("dtype":"F32","shape":[2],"data_offsets":)";
  return {
      {"Empty", "", "file is 0 bytes, too short for the 8-byte header length"},
      {"ShorterThanLengthPrefix", std::string("\x05\0\0", 3),
       "file is 3 bytes, too short for the 8-byte header length"},
      {"HeaderLengthBeyondFile", LengthPrefix(1000) + "{}",
       "header length 1000 exceeds the 2 bytes that follow it"},
      {"HeaderLengthAboveLimit", LengthPrefix(uint64_t{1} << 40) + "{}",
       "header length 1099511627776 exceeds the limit of 100000000 bytes"},
      {"ZeroHeaderLength", LengthPrefix(0), "header does not start with '{'"},
      {"HeaderNotAnObject", File("[1,2]   ", ""), "header does not start with '{'"},
      {"MalformedJson", File(R"({"a":{"dtype":)", ""),
       "header is not valid JSON (error at header byte 15)"},
      {"TrailingJunkInHeader", File(R"({} x)", ""),
       "header is not valid JSON (error at header byte 4)"},
      {"DuplicateTensor",
       File(R"({"a":{)" + f32x2 + R"([0,8]},"a":{)" + f32x2 + R"([8,16]}})", Zeros(16)),
       "key 'a' appears twice in the header"},
      {"EntryNotObject", File(R"({"a":3})", ""), "tensor 'a': entry is not a JSON object"},
      {"MissingDtype", File(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", Zeros(8)),
       "tensor 'a': missing 'dtype'"},
      {"MissingOffsets", File(R"({"a":{"dtype":"F32","shape":[2]}})", Zeros(8)),
       "tensor 'a': missing 'data_offsets'"},
      {"UnknownField", File(R"({"a":{)" + f32x2 + R"([0,8],"strides":[1]}})", Zeros(8)),
       "tensor 'a': unknown field 'strides'"},
      {"DtypeNotString", File(R"({"a":{"dtype":1,"shape":[2],"data_offsets":[0,8]}})", Zeros(8)),
       "tensor 'a': dtype is not a string"},
      {"UnsupportedDtype",
       File(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", Zeros(4)),
       "tensor 'a': unsupported dtype 'F16' (expected F32, F64, I32, I64 or BOOL)"},
      {"NegativeDim", File(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", Zeros(8)),
       "tensor 'a': shape must be an array of non-negative integers"},
      {"FractionalDim",
       File(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", Zeros(8)),
       "tensor 'a': shape must be an array of non-negative integers"},
      {"ShapeOverflow",
       File(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
            Zeros(8)),
       "tensor 'a': shape [4294967296,4294967296] is too large"},
      {"OffsetsNotAPair", File(R"({"a":{)" + f32x2 + R"([0,8,16]}})", Zeros(8)),
       "tensor 'a': data_offsets must be [begin, end] with 0 <= begin <= end"},
      {"OffsetsReversed", File(R"({"a":{)" + f32x2 + R"([8,0]}})", Zeros(8)),
       "tensor 'a': data_offsets must be [begin, end] with 0 <= begin <= end"},
      {"OffsetsDoNotMatchShape", File(R"({"a":{)" + f32x2 + R"([0,12]}})", Zeros(12)),
       "tensor 'a': data_offsets [0,12] hold 12 bytes, but f32[2] needs 8"},
      {"OffsetsPastEnd", File(R"({"a":{)" + f32x2 + R"([0,8]}})", Zeros(6)),
       "tensor 'a': data_offsets [0,8] run past the end of the data (6 bytes)"},
      {"Overlap", File(R"({"a":{)" + f32x2 + R"([0,8]},"b":{)" + f32x2 + R"([4,12]}})", Zeros(12)),
       "tensors 'a' and 'b' overlap (data_offsets [0,8] and [4,12])"},
      {"Gap", File(R"({"a":{)" + f32x2 + R"([0,8]},"b":{)" + f32x2 + R"([12,20]}})", Zeros(20)),
       "data bytes [8,12) belong to no tensor"},
      {"TrailingGarbage", File(R"({"a":{)" + f32x2 + R"([0,8]}})", Zeros(11)),
       "3 trailing bytes after the last tensor's data"},
      {"DataWithoutTensors", File("{}", "xyz"), "3 trailing bytes after the header"},
      {"MetadataNotObject", File(R"({"__metadata__":"v1"})", ""),
       "__metadata__ must be an object mapping strings to strings"},
      {"MetadataValueNotString", File(R"({"__metadata__":{"step":3}})", ""),
       "__metadata__ entry 'step' is not a string"},
      {"BoolByteNotZeroOrOne",
       File(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\1\0\2", 3)),
       "tensor 'm': BOOL element 2 is 2 (expected 0 or 1)"},
      {"InvalidUtf8InHeader", File("{\"a\xff\":{}}", ""),
       "header is not valid JSON (error at header byte 4)"},
  };
}

class SafetensorsCorruptTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(SafetensorsCorruptTest, FailsWithExactMessage) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("ckpt.safetensors");
  WriteBytes(path, GetParam().bytes);
  auto checkpoint = ReadSafetensors(path, &allocator);
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(checkpoint.status().message(), path + ": " + GetParam().message);
  EXPECT_EQ(allocator.live_bytes(), 0);
}

INSTANTIATE_TEST_SUITE_P(Cases, SafetensorsCorruptTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                           return info.param.name;
                         });

// Every truncation of a valid file fails, and every byte flip either still
// reads (a flipped data byte) or fails cleanly: nothing crashes or reads out of
// bounds.
TEST(SafetensorsReadTest, TruncationsAndByteFlipsFailCleanly) {
  CpuAllocator allocator;
  std::map<std::string, Tensor> tensors = {
      {"w", Tensor::FromVector<float>(&allocator, Shape{2, 2}, {1, 2, 3, 4})},
      {"m", Tensor::FromVector<bool>(&allocator, Shape{3}, {true, false, true})},
      {"n", Tensor::FromVector<int64_t>(&allocator, Shape{}, {5})}};
  auto bytes = SerializeSafetensors(tensors, {{"k", "v"}});
  ASSERT_TRUE(bytes.ok());
  ScratchFolder folder;
  const std::string path = folder.File("ckpt.safetensors");
  // Patching one file in place: rewriting it each time costs milliseconds on ext4.
  WriteBytes(path, *bytes);
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  int still_valid = 0;
  for (size_t position = 0; position < bytes->size(); ++position) {
    for (unsigned char mask : {0x01, 0x20, 0x80}) {
      const char flipped = static_cast<char>((*bytes)[position] ^ mask);
      ASSERT_EQ(pwrite(fd, &flipped, 1, static_cast<off_t>(position)), 1);
      auto checkpoint = ReadSafetensors(path, &allocator);
      if (checkpoint.ok()) {
        ++still_valid;
      } else {
        ASSERT_EQ(checkpoint.status().code(), absl::StatusCode::kInvalidArgument)
            << position << " " << checkpoint.status();
      }
    }
    ASSERT_EQ(pwrite(fd, bytes->data() + position, 1, static_cast<off_t>(position)), 1);
  }
  close(fd);
  for (size_t length = bytes->size(); length-- > 0;) {
    std::filesystem::resize_file(path, length);
    auto checkpoint = ReadSafetensors(path, &allocator);
    ASSERT_EQ(checkpoint.status().code(), absl::StatusCode::kInvalidArgument) << length;
  }
  // Flips in the 16 float/int64 data bytes survive; bool bytes and most
  // header bytes do not.
  EXPECT_GT(still_valid, 0);
  EXPECT_EQ(allocator.live_bytes(), 4 * 4 + 3 + 8);
}

TEST(SafetensorsReadTest, IndexRejectsHeaderErrorsToo) {
  ScratchFolder folder;
  std::string path = folder.File("ckpt.safetensors");
  WriteBytes(path, File(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"));
  EXPECT_EQ(ReadSafetensorsIndex(path).status().message(),
            path + ": tensor 'a': unsupported dtype 'U8' (expected F32, F64, I32, I64 or BOOL)");
}

TEST(SafetensorsReadTest, MissingFileIsNotFound) {
  CpuAllocator allocator;
  ScratchFolder folder;
  std::string path = folder.File("nope.safetensors");
  auto checkpoint = ReadSafetensors(path, &allocator);
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(checkpoint.status().message(), path + ": cannot open: No such file or directory");
}

TEST(SafetensorsReadTest, FolderIsNotARegularFile) {
  CpuAllocator allocator;
  ScratchFolder folder;
  auto checkpoint = ReadSafetensors(folder.path(), &allocator);
  EXPECT_EQ(checkpoint.status().message(), folder.path() + ": not a regular file");
}

}  // namespace
}  // namespace sbpflow
