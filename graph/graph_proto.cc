#include "graph/graph_proto.h"

#include <cstdio>
#include <map>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "graph/attr_proto.h"
#include "graph/shape_inference.h"

namespace sbpflow {
namespace {

bool IsValidNodeName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == ':' || c == '^' || c == ',' || absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        !absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

absl::Status NodeError(absl::string_view source, const proto::NodeDef& node,
                       absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": node '", node.name(), "' (",
                                                 node.op(), "): ", message));
}

// Splits "name:3" into ("name", 3); "name" gives ("name", 0).
bool SplitTensorName(absl::string_view text, absl::string_view* name, int* output) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    *name = text;
    *output = 0;
    return !text.empty();
  }
  *name = text.substr(0, colon);
  return !name->empty() && absl::SimpleAtoi(text.substr(colon + 1), output) && *output >= 0;
}

}  // namespace

absl::StatusOr<TensorRef> ParseTensorRef(const Graph& graph, absl::string_view text) {
  absl::string_view name;
  int output = 0;
  if (!SplitTensorName(text, &name, &output)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not NODE or NODE:INDEX"));
  }
  std::optional<int> node = graph.FindNode(name);
  if (!node.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' names no node"));
  }
  if (!graph.node(*node).outputs.empty() &&
      output >= static_cast<int>(graph.node(*node).outputs.size())) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': node '", name, "' has ",
                                                   graph.node(*node).outputs.size(),
                                                   " output(s)"));
  }
  return TensorRef{*node, output};
}

absl::StatusOr<Graph> GraphFromProto(const proto::GraphDef& def, const OpRegistry& registry,
                                     absl::string_view source, int64_t batch) {
  if (def.version() != 0 && def.version() != kGraphFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'version': version ",
                                                   def.version(), " is not supported (this build "
                                                   "reads version ",
                                                   kGraphFormatVersion, ")"));
  }
  if (def.nodes().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field 'nodes': the graph is empty"));
  }
  Graph graph;
  graph.set_name(def.name());

  // Pass 1: names, ops and attrs.
  for (const proto::NodeDef& node_def : def.nodes()) {
    if (!IsValidNodeName(node_def.name())) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": node '", node_def.name(), "': field 'name': must be non-empty printable text "
          "without ':', '^', ',' or spaces"));
    }
    if (graph.FindNode(node_def.name()).has_value()) {
      return NodeError(source, node_def, "field 'name': name is used by an earlier node");
    }
    if (registry.Find(node_def.op()) == nullptr) {
      return NodeError(source, node_def, absl::StrCat("field 'op': unknown op '", node_def.op(), "'"));
    }
    Node node;
    node.name = node_def.name();
    node.op = node_def.op();
    // Sorted so errors do not depend on the map's iteration order.
    std::map<std::string, const proto::AttrValue*> sorted_attrs;
    for (const auto& [name, value] : node_def.attrs()) sorted_attrs[name] = &value;
    for (const auto& [name, value] : sorted_attrs) {
      auto converted = FromProtoAttr(*value);
      if (!converted.ok()) {
        return NodeError(source, node_def,
                         absl::StrCat("attr '", name, "' ", converted.status().message()));
      }
      node.attrs.Set(name, *std::move(converted));
    }
    node.placement.devices = node_def.placement().devices();
    node.placement.mesh.assign(node_def.placement().mesh().begin(),
                               node_def.placement().mesh().end());
    node.placement.axes.assign(node_def.placement().axes().begin(),
                               node_def.placement().axes().end());
    node.output_sbp.assign(node_def.output_sbp().begin(), node_def.output_sbp().end());
    if (node_def.has_stage()) {
      if (node_def.stage() < 0) {
        return NodeError(source, node_def, "field 'stage': must be >= 0");
      }
      node.stage = node_def.stage();
    }
    graph.AddNode(std::move(node));
  }

  // Pass 2: edges.
  for (int index = 0; index < def.nodes_size(); ++index) {
    const proto::NodeDef& node_def = def.nodes(index);
    Node& node = graph.mutable_node(index);
    for (const std::string& input : node_def.inputs()) {
      const bool control = absl::StartsWith(input, "^");
      absl::string_view name;
      int output = 0;
      if (!SplitTensorName(control ? absl::string_view(input).substr(1) : input, &name, &output)) {
        return NodeError(source, node_def,
                         absl::StrCat("input '", input, "': expected NODE, NODE:INDEX or ^NODE"));
      }
      std::optional<int> producer = graph.FindNode(name);
      if (!producer.has_value()) {
        return NodeError(source, node_def,
                         absl::StrCat("input '", input, "': no node is named '", name, "'"));
      }
      if (control) {
        node.control_inputs.push_back(*producer);
      } else {
        if (!node.control_inputs.empty()) {
          return NodeError(source, node_def,
                           absl::StrCat("input '", input, "': data inputs must precede control "
                                        "inputs"));
        }
        node.inputs.push_back(TensorRef{*producer, output});
      }
    }
  }

  absl::Status inferred = InferGraphShapes(&graph, registry, batch);
  if (!inferred.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", inferred.message()));
  }
  for (const Node& node : graph.nodes()) {
    if (node.output_sbp.size() > node.outputs.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": node '", node.name, "' (", node.op, "): field 'output_sbp': ",
          node.output_sbp.size(), " entries for ", node.outputs.size(), " output(s)"));
    }
  }

  // The signature.
  const proto::Signature& signature = def.signature();
  GraphSignature& out = graph.mutable_signature();
  auto signature_error = [&](absl::string_view field, absl::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field 'signature.", field, "': ", message));
  };
  if (!signature.loss().empty()) {
    auto loss = ParseTensorRef(graph, signature.loss());
    if (!loss.ok()) return signature_error("loss", loss.status().message());
    const TensorType& type = graph.type(*loss);
    if (!IsFloatingPoint(type.dtype) || type.shape.NumElements() != 1) {
      return signature_error("loss", absl::StrCat("'", signature.loss(),
                                                  "' must be a floating-point scalar, got ",
                                                  type.ToString()));
    }
    out.loss = *loss;
  }
  for (auto [field, value, target] :
       {std::tuple{"features", &signature.features(), &out.features},
        std::tuple{"labels", &signature.labels(), &out.labels}}) {
    if (value->empty()) continue;
    std::optional<int> node = graph.FindNode(*value);
    if (!node.has_value()) {
      return signature_error(field, absl::StrCat("'", *value, "' names no node"));
    }
    if (graph.node(*node).op != "Placeholder") {
      return signature_error(field, absl::StrCat("'", *value, "' must be a Placeholder, is ",
                                                 graph.node(*node).op));
    }
    *target = *value;
  }
  if (!signature.logits().empty()) {
    auto logits = ParseTensorRef(graph, signature.logits());
    if (!logits.ok()) return signature_error("logits", logits.status().message());
    out.logits = *logits;
  }
  return graph;
}

proto::GraphDef GraphToProto(const Graph& graph) {
  proto::GraphDef def;
  def.set_name(graph.name());
  def.set_version(kGraphFormatVersion);
  for (const Node& node : graph.nodes()) {
    proto::NodeDef* out = def.add_nodes();
    out->set_name(node.name);
    out->set_op(node.op);
    for (const TensorRef& input : node.inputs) out->add_inputs(graph.RefName(input));
    for (int control : node.control_inputs) {
      out->add_inputs(absl::StrCat("^", graph.node(control).name));
    }
    for (const auto& [name, value] : node.attrs.values()) {
      (*out->mutable_attrs())[name] = ToProtoAttr(value);
    }
    if (!node.placement.empty()) {
      out->mutable_placement()->set_devices(node.placement.devices);
      out->mutable_placement()->mutable_mesh()->Add(node.placement.mesh.begin(),
                                                    node.placement.mesh.end());
      for (const std::string& axis : node.placement.axes) {
        out->mutable_placement()->add_axes(axis);
      }
    }
    for (const std::string& sbp : node.output_sbp) out->add_output_sbp(sbp);
    if (node.stage.has_value()) out->set_stage(*node.stage);
  }
  const GraphSignature& signature = graph.signature();
  if (signature.loss.valid()) def.mutable_signature()->set_loss(graph.RefName(signature.loss));
  def.mutable_signature()->set_features(signature.features);
  def.mutable_signature()->set_labels(signature.labels);
  if (signature.logits.valid()) {
    def.mutable_signature()->set_logits(graph.RefName(signature.logits));
  }
  return def;
}

namespace {

// True when every byte is printable ASCII, whitespace, or part of a
// well-formed UTF-8 sequence.
bool LooksLikeText(absl::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      if (!(absl::ascii_isprint(c) || c == '\n' || c == '\r' || c == '\t')) return false;
      ++i;
      continue;
    }
    const int continuation =
        (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (continuation < 0 || i + continuation >= bytes.size()) return false;
    for (int k = 1; k <= continuation; ++k) {
      if ((static_cast<unsigned char>(bytes[i + k]) & 0xC0) != 0x80) return false;
    }
    i += continuation + 1;
  }
  return true;
}

// Collects text-format parse errors so they can be reported in one line.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::StatusOr<proto::GraphDef> ReadGraphDefFile(const std::string& path) {
  SBP_ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(path));
  proto::GraphDef def;
  if (LooksLikeText(bytes)) {
    google::protobuf::TextFormat::Parser parser;
    ErrorCollector errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(bytes, &def)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not a valid text GraphDef: ", errors.first()));
    }
    return def;
  }
  if (!def.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid binary GraphDef"));
  }
  return def;
}

absl::StatusOr<Graph> LoadGraphFile(const std::string& path, const OpRegistry& registry,
                                    int64_t batch) {
  SBP_ASSIGN_OR_RETURN(proto::GraphDef def, ReadGraphDefFile(path));
  return GraphFromProto(def, registry, path, batch);
}

absl::Status WriteGraphDefFile(const proto::GraphDef& def, const std::string& path) {
  std::string bytes;
  if (absl::EndsWith(path, ".pbtxt")) {
    google::protobuf::TextFormat::Printer printer;
    if (!printer.PrintToString(def, &bytes)) {
      return absl::InternalError(absl::StrCat(path, ": cannot print graph"));
    }
  } else if (!def.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat(path, ": cannot serialize graph"));
  }
  return WriteFileAtomically(path, {bytes});
}

}  // namespace sbpflow
