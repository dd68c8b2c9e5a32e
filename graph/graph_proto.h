// The edge between the serialized graph (proto/graph.proto) and the checked
// in-memory Graph, plus reading and writing graph files.
//
// File format is detected from the content: a file that is entirely printable
// UTF-8 text is parsed as a text proto, anything else as binary. Writing picks
// text for names ending in ".pbtxt" and binary otherwise, through a temporary
// file renamed into place, so a failed write leaves no partial file.
#ifndef SBPFLOW_GRAPH_GRAPH_PROTO_H_
#define SBPFLOW_GRAPH_GRAPH_PROTO_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "proto/graph.pb.h"

namespace sbpflow {

// The graph format version this build reads and writes.
inline constexpr int kGraphFormatVersion = 1;

// Converts and validates: names, inputs, attrs, cycles, signature, and shape
// inference with placeholders' batch dimension bound to `batch`. Every error
// is InvalidArgument, prefixed with `source` (the file name), and names the
// node and field, e.g. "m.pbtxt: node 'fc' (MatMul): attr 'transpose_a' must
// be bool, got int".
absl::StatusOr<Graph> GraphFromProto(const proto::GraphDef& def, const OpRegistry& registry,
                                     absl::string_view source, int64_t batch = 1);

// The inverse of GraphFromProto; backward/optimizer nodes are written too.
proto::GraphDef GraphToProto(const Graph& graph);

// Reads a GraphDef from a .pb or .pbtxt file (format detected). Errors:
// NotFound/InvalidArgument naming the file.
absl::StatusOr<proto::GraphDef> ReadGraphDefFile(const std::string& path);

// Reads, converts and validates a graph file.
absl::StatusOr<Graph> LoadGraphFile(const std::string& path, const OpRegistry& registry,
                                    int64_t batch = 1);

// Writes a graph file (text when `path` ends in ".pbtxt").
absl::Status WriteGraphDefFile(const proto::GraphDef& def, const std::string& path);

// Parses "node:index", "node" (index 0) against `graph`. Errors name the text.
absl::StatusOr<TensorRef> ParseTensorRef(const Graph& graph, absl::string_view text);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_GRAPH_PROTO_H_
