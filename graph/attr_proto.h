// Conversions between the proto forms of dtypes, shapes and attr values and
// their checked C++ forms (base/). Shared by the graph and plan files.
#ifndef SBPFLOW_GRAPH_ATTR_PROTO_H_
#define SBPFLOW_GRAPH_ATTR_PROTO_H_

#include "absl/status/statusor.h"
#include "base/attr_value.h"
#include "base/shape.h"
#include "proto/graph.pb.h"

namespace sbpflow {

// kInvalid for DT_INVALID or an unknown value.
DataType FromProtoDataType(proto::DataType dtype);
proto::DataType ToProtoDataType(DataType dtype);

// Errors (InvalidArgument): "has no value", "dtype is invalid".
absl::StatusOr<AttrValue> FromProtoAttr(const proto::AttrValue& value);
proto::AttrValue ToProtoAttr(const AttrValue& value);

Shape FromProtoShape(const proto::TensorShape& shape);
proto::TensorShape ToProtoShape(const Shape& shape);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_ATTR_PROTO_H_
