// The `mlp` model builder: a multi-layer perceptron classifier.
//
// Layers [d0, d1, ..., dn]: features Placeholder f32[-1, d0], labels
// Placeholder i32[-1]; for each layer i a Variable "layer<i>.weight" [d_i,
// d_{i+1}] (xavier_uniform) and "layer<i>.bias" [d_{i+1}] (zeros), MatMul +
// bias Add ("layer<i>/bias_add"), ReLU between layers; the signature's logits are
// the last bias_add; loss =
// SoftmaxCrossEntropy(logits, labels).
#ifndef SBPFLOW_GRAPH_MODELS_MLP_H_
#define SBPFLOW_GRAPH_MODELS_MLP_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

struct MlpOptions {
  std::vector<int64_t> layers;
};

// Errors: fewer than two sizes or a size < 1 (InvalidArgument naming
// --layers).
absl::StatusOr<Graph> BuildMlp(const OpRegistry& registry, const MlpOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_MODELS_MLP_H_
