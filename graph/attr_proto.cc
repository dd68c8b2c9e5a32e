#include "graph/attr_proto.h"

namespace sbpflow {

DataType FromProtoDataType(proto::DataType dtype) {
  switch (dtype) {
    case proto::DT_FLOAT:
      return DataType::kFloat32;
    case proto::DT_DOUBLE:
      return DataType::kFloat64;
    case proto::DT_INT32:
      return DataType::kInt32;
    case proto::DT_INT64:
      return DataType::kInt64;
    case proto::DT_BOOL:
      return DataType::kBool;
    default:
      return DataType::kInvalid;
  }
}

proto::DataType ToProtoDataType(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return proto::DT_FLOAT;
    case DataType::kFloat64:
      return proto::DT_DOUBLE;
    case DataType::kInt32:
      return proto::DT_INT32;
    case DataType::kInt64:
      return proto::DT_INT64;
    case DataType::kBool:
      return proto::DT_BOOL;
    case DataType::kInvalid:
      return proto::DT_INVALID;
  }
  return proto::DT_INVALID;
}

absl::StatusOr<AttrValue> FromProtoAttr(const proto::AttrValue& value) {
  switch (value.value_case()) {
    case proto::AttrValue::kI:
      return AttrValue(value.i());
    case proto::AttrValue::kF:
      return AttrValue(value.f());
    case proto::AttrValue::kS:
      return AttrValue(value.s());
    case proto::AttrValue::kB:
      return AttrValue(value.b());
    case proto::AttrValue::kInts:
      return AttrValue(std::vector<int64_t>(value.ints().values().begin(),
                                            value.ints().values().end()));
    case proto::AttrValue::kFloats:
      return AttrValue(std::vector<double>(value.floats().values().begin(),
                                           value.floats().values().end()));
    case proto::AttrValue::kStrings:
      return AttrValue(std::vector<std::string>(value.strings().values().begin(),
                                                value.strings().values().end()));
    case proto::AttrValue::kShape:
      return AttrValue(
          Shape(std::vector<int64_t>(value.shape().dims().begin(), value.shape().dims().end())));
    case proto::AttrValue::kType: {
      DataType dtype = FromProtoDataType(value.type());
      if (dtype == DataType::kInvalid) return absl::InvalidArgumentError("dtype is invalid");
      return AttrValue(dtype);
    }
    case proto::AttrValue::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("has no value");
}

proto::AttrValue ToProtoAttr(const AttrValue& value) {
  proto::AttrValue out;
  struct Writer {
    proto::AttrValue* out;
    void operator()(int64_t v) const { out->set_i(v); }
    void operator()(double v) const { out->set_f(v); }
    void operator()(const std::string& v) const { out->set_s(v); }
    void operator()(bool v) const { out->set_b(v); }
    void operator()(const std::vector<int64_t>& v) const {
      out->mutable_ints()->mutable_values()->Add(v.begin(), v.end());
    }
    void operator()(const std::vector<double>& v) const {
      out->mutable_floats()->mutable_values()->Add(v.begin(), v.end());
    }
    void operator()(const std::vector<std::string>& v) const {
      for (const std::string& s : v) out->mutable_strings()->add_values(s);
    }
    void operator()(const Shape& v) const {
      out->mutable_shape()->mutable_dims()->Add(v.dims().begin(), v.dims().end());
    }
    void operator()(DataType v) const { out->set_type(ToProtoDataType(v)); }
  };
  std::visit(Writer{&out}, value);
  return out;
}

Shape FromProtoShape(const proto::TensorShape& shape) {
  return Shape(std::vector<int64_t>(shape.dims().begin(), shape.dims().end()));
}

proto::TensorShape ToProtoShape(const Shape& shape) {
  proto::TensorShape out;
  out.mutable_dims()->Add(shape.dims().begin(), shape.dims().end());
  return out;
}

}  // namespace sbpflow
