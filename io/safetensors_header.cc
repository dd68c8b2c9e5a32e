#include "io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

namespace sbpflow {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr char kDtypeField[] = "dtype";
constexpr char kShapeField[] = "shape";
constexpr char kOffsetsField[] = "data_offsets";

bool IsValidUtf8(const std::string& text) {
  try {
    // dump() validates UTF-8 strictly and throws on anything malformed.
    (void)Json(text).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

absl::Status FileError(absl::string_view file_name, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(file_name, ": ", message));
}

absl::Status TensorError(absl::string_view file_name, absl::string_view tensor,
                         absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(file_name, ": tensor '", tensor, "': ", message));
}

std::string OffsetsText(uint64_t begin, uint64_t end) {
  return absl::StrCat("[", begin, ",", end, "]");
}

// A non-negative JSON integer that fits int64 (nlohmann parses every
// non-negative integer as unsigned and every negative one as signed).
bool IsNonNegativeInt64(const Json& value) {
  return value.is_number_unsigned() &&
         value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

absl::Status DecodeMetadata(absl::string_view file_name, const Json& value,
                            std::map<std::string, std::string>* metadata) {
  if (!value.is_object()) {
    return FileError(file_name, "__metadata__ must be an object mapping strings to strings");
  }
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string()) {
      return FileError(file_name, absl::StrCat("__metadata__ entry '", key, "' is not a string"));
    }
    (*metadata)[key] = text.get<std::string>();
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsEntry> DecodeEntry(absl::string_view file_name, const std::string& name,
                                             const Json& value, uint64_t data_size) {
  if (!value.is_object()) return TensorError(file_name, name, "entry is not a JSON object");
  for (const auto& [field, unused] : value.items()) {
    if (field != kDtypeField && field != kShapeField && field != kOffsetsField) {
      return TensorError(file_name, name, absl::StrCat("unknown field '", field, "'"));
    }
  }
  for (const char* field : {kDtypeField, kShapeField, kOffsetsField}) {
    if (!value.contains(field)) {
      return TensorError(file_name, name, absl::StrCat("missing '", field, "'"));
    }
  }
  SafetensorsEntry entry;
  entry.name = name;

  const Json& dtype = value.at(kDtypeField);
  if (!dtype.is_string()) return TensorError(file_name, name, "dtype is not a string");
  absl::StatusOr<DataType> parsed_dtype = ParseSafetensorsDtype(dtype.get<std::string>());
  if (!parsed_dtype.ok()) {
    return TensorError(file_name, name, parsed_dtype.status().message());
  }
  entry.type.dtype = *parsed_dtype;

  const Json& shape = value.at(kShapeField);
  if (!shape.is_array()) {
    return TensorError(file_name, name, "shape must be an array of non-negative integers");
  }
  std::vector<int64_t> dims;
  int64_t num_bytes = DataTypeSize(entry.type.dtype);
  bool overflow = false;
  for (const Json& dim : shape) {
    if (!IsNonNegativeInt64(dim)) {
      return TensorError(file_name, name, "shape must be an array of non-negative integers");
    }
    dims.push_back(dim.get<int64_t>());
    overflow |= __builtin_mul_overflow(num_bytes, dims.back(), &num_bytes);
  }
  entry.type.shape = Shape(std::move(dims));
  if (overflow) {
    return TensorError(file_name, name,
                       absl::StrCat("shape ", entry.type.shape.ToString(), " is too large"));
  }

  const Json& offsets = value.at(kOffsetsField);
  if (!offsets.is_array() || offsets.size() != 2 || !IsNonNegativeInt64(offsets[0]) ||
      !IsNonNegativeInt64(offsets[1]) || offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>()) {
    return TensorError(file_name, name, "data_offsets must be [begin, end] with 0 <= begin <= end");
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end - entry.begin != static_cast<uint64_t>(num_bytes)) {
    return TensorError(file_name, name,
                       absl::StrCat("data_offsets ", OffsetsText(entry.begin, entry.end), " hold ",
                                    entry.end - entry.begin, " bytes, but ", entry.type.ToString(),
                                    " needs ", num_bytes));
  }
  if (entry.end > data_size) {
    return TensorError(file_name, name,
                       absl::StrCat("data_offsets ", OffsetsText(entry.begin, entry.end),
                                    " run past the end of the data (", data_size, " bytes)"));
  }
  return entry;
}

// The data section must be tiled exactly, as the reference implementation
// demands: anything else means a truncated, spliced or tampered file.
absl::Status CheckCoverage(absl::string_view file_name,
                           const std::vector<SafetensorsEntry>& entries, uint64_t data_size) {
  uint64_t cursor = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry& entry : entries) {
    if (entry.begin < cursor) {
      return FileError(file_name, absl::StrCat("tensors '", previous->name, "' and '", entry.name,
                                               "' overlap (data_offsets ",
                                               OffsetsText(previous->begin, previous->end), " and ",
                                               OffsetsText(entry.begin, entry.end), ")"));
    }
    if (entry.begin > cursor) {
      return FileError(file_name, absl::StrCat("data bytes [", cursor, ",", entry.begin,
                                               ") belong to no tensor"));
    }
    cursor = entry.end;
    previous = &entry;
  }
  if (cursor < data_size) {
    return FileError(file_name,
                     absl::StrCat(data_size - cursor, " trailing bytes after ",
                                  previous == nullptr ? "the header" : "the last tensor's data"));
  }
  return absl::OkStatus();
}

// Parses JSON and reports the first key repeated within one object: nlohmann
// would silently keep the last value, which could hide a tensor.
absl::StatusOr<Json> ParseJsonRejectingDuplicates(absl::string_view file_name,
                                                  absl::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool has_duplicate = false;
  Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && !open_objects.empty()) {
      std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second && !has_duplicate) {
        has_duplicate = true;
        duplicate = std::move(key);
      }
    }
    return true;
  };
  Json root;
  try {
    root = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& error) {
    return FileError(file_name, absl::StrCat("header is not valid JSON (error at header byte ",
                                             error.byte, ")"));
  }
  if (has_duplicate) {
    return FileError(file_name, absl::StrCat("key '", duplicate, "' appears twice in the header"));
  }
  return root;
}

}  // namespace

absl::string_view SafetensorsDtypeName(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return "F32";
    case DataType::kFloat64:
      return "F64";
    case DataType::kInt32:
      return "I32";
    case DataType::kInt64:
      return "I64";
    case DataType::kBool:
      return "BOOL";
    case DataType::kInvalid:
      break;
  }
  LOG(FATAL) << "no safetensors dtype for " << DataTypeName(dtype);
  return "";
}

absl::StatusOr<DataType> ParseSafetensorsDtype(absl::string_view name) {
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64,
                         DataType::kBool}) {
    if (name == SafetensorsDtypeName(dtype)) return dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dtype '", name, "' (expected F32, F64, I32, I64 or BOOL)"));
}

absl::StatusOr<std::string> EncodeSafetensorsHeader(
    const std::map<std::string, TensorType>& types,
    const std::map<std::string, std::string>& metadata) {
  OrderedJson root = OrderedJson::object();
  if (!metadata.empty()) {
    OrderedJson metadata_json = OrderedJson::object();
    for (const auto& [key, text] : metadata) {
      if (!IsValidUtf8(key) || !IsValidUtf8(text)) {
        return absl::InvalidArgumentError(
            absl::StrCat("metadata entry '", key, "' is not valid UTF-8"));
      }
      metadata_json[key] = text;
    }
    root[std::string(kSafetensorsMetadataKey)] = std::move(metadata_json);
  }
  uint64_t offset = 0;
  for (const auto& [name, type] : types) {
    if (name == kSafetensorsMetadataKey) {
      return absl::InvalidArgumentError(
          absl::StrCat("a tensor may not be named '", kSafetensorsMetadataKey, "'"));
    }
    if (!IsValidUtf8(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor name '", name, "' is not valid UTF-8"));
    }
    if (type.dtype == DataType::kInvalid) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has no dtype"));
    }
    if (!type.shape.IsFullyKnown()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has shape ", type.shape.ToString(), " with an unknown dimension"));
    }
    uint64_t num_bytes = static_cast<uint64_t>(type.shape.NumElements() * DataTypeSize(type.dtype));
    OrderedJson entry = OrderedJson::object();
    entry[kDtypeField] = std::string(SafetensorsDtypeName(type.dtype));
    entry[kShapeField] = type.shape.dims();
    entry[kOffsetsField] = {offset, offset + num_bytes};
    root[name] = std::move(entry);
    offset += num_bytes;
  }
  std::string header = root.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  return header;
}

absl::StatusOr<SafetensorsLayout> DecodeSafetensorsHeader(absl::string_view file_name,
                                                          absl::string_view header,
                                                          uint64_t data_size) {
  if (header.empty() || header.front() != '{') {
    return FileError(file_name, "header does not start with '{'");
  }
  // Starting with '{' and parsing whole, the header is necessarily a JSON object.
  SBP_ASSIGN_OR_RETURN(Json root, ParseJsonRejectingDuplicates(file_name, header));

  SafetensorsLayout layout;
  for (const auto& [key, value] : root.items()) {
    if (key == kSafetensorsMetadataKey) {
      SBP_RETURN_IF_ERROR(DecodeMetadata(file_name, value, &layout.metadata));
      continue;
    }
    SBP_ASSIGN_OR_RETURN(SafetensorsEntry entry, DecodeEntry(file_name, key, value, data_size));
    layout.entries.push_back(std::move(entry));
  }
  std::sort(layout.entries.begin(), layout.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
  SBP_RETURN_IF_ERROR(CheckCoverage(file_name, layout.entries, data_size));
  return layout;
}

}  // namespace sbpflow
