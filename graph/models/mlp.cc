#include "graph/models/mlp.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "graph/graph_builder.h"

namespace sbpflow {

absl::StatusOr<Graph> BuildMlp(const OpRegistry& registry, const MlpOptions& options) {
  if (options.layers.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--layers needs at least an input and an output size, got '",
        absl::StrJoin(options.layers, ","), "'"));
  }
  for (int64_t size : options.layers) {
    if (size < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--layers: every size must be >= 1, got ", size));
    }
  }
  Graph graph;
  graph.set_name(absl::StrCat("mlp_", absl::StrJoin(options.layers, "_")));
  GraphBuilder builder(&graph, &registry);
  SBP_ASSIGN_OR_RETURN(int features,
                       builder.AddNamedNode("features", "Placeholder", {},
                                            AttrMap{{"shape", Shape{-1, options.layers[0]}},
                                                    {"dtype", DataType::kFloat32}}));
  SBP_ASSIGN_OR_RETURN(int labels, builder.AddNamedNode("labels", "Placeholder", {},
                                                        AttrMap{{"shape", Shape{-1}},
                                                                {"dtype", DataType::kInt32}}));
  TensorRef x{features, 0};
  const int num_layers = static_cast<int>(options.layers.size()) - 1;
  for (int layer = 0; layer < num_layers; ++layer) {
    const std::string prefix = absl::StrCat("layer", layer);
    const int64_t in = options.layers[layer];
    const int64_t out = options.layers[layer + 1];
    SBP_ASSIGN_OR_RETURN(int weight,
                         builder.AddNamedNode(absl::StrCat(prefix, ".weight"), "Variable", {},
                                              AttrMap{{"shape", Shape{in, out}},
                                                      {"initializer",
                                                       std::string("xavier_uniform")}}));
    SBP_ASSIGN_OR_RETURN(int bias, builder.AddNamedNode(absl::StrCat(prefix, ".bias"), "Variable",
                                                        {}, AttrMap{{"shape", Shape{out}}}));
    builder.set_name_prefix(absl::StrCat(prefix, "/"));
    SBP_ASSIGN_OR_RETURN(TensorRef product, builder.Add("MatMul", {x, TensorRef{weight, 0}}));
    SBP_ASSIGN_OR_RETURN(x, builder.Add("Add", {product, TensorRef{bias, 0}}, {}, "bias_add"));
    if (layer + 1 < num_layers) {
      SBP_ASSIGN_OR_RETURN(x, builder.Add("Relu", {x}));
    }
  }
  builder.set_name_prefix("");
  SBP_ASSIGN_OR_RETURN(int loss, builder.AddNamedNode("loss", "SoftmaxCrossEntropy",
                                                      {x, TensorRef{labels, 0}}));
  GraphSignature& signature = graph.mutable_signature();
  signature.loss = TensorRef{loss, 0};
  signature.features = "features";
  signature.labels = "labels";
  signature.logits = x;
  return graph;
}

}  // namespace sbpflow
