// The registry of every built-in op. Each op family lives in its own file in
// graph/ops and contributes one Register*Ops function.
#ifndef SBPFLOW_GRAPH_OPS_BUILTIN_OPS_H_
#define SBPFLOW_GRAPH_OPS_BUILTIN_OPS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/op_registry.h"

namespace sbpflow {

// Builds a registry with every built-in op. Fails only on a programming error
// (a duplicate registration).
absl::StatusOr<OpRegistry> BuildBuiltinOpRegistry();

// The families (one file each).
absl::Status RegisterSourceOps(OpRegistry& registry);       // Placeholder, Variable, Const
absl::Status RegisterIdentityOps(OpRegistry& registry);     // Identity, StopGradient
absl::Status RegisterElementwiseOps(OpRegistry& registry);  // Add, Sub, Mul, Div, Neg, Scale, Exp,
                                                            // Log, Sqrt, Square, ...
absl::Status RegisterActivationOps(OpRegistry& registry);   // Relu, Gelu, Tanh and their grads
absl::Status RegisterMatMulOps(OpRegistry& registry);       // MatMul, BatchMatMul
absl::Status RegisterReduceOps(OpRegistry& registry);       // ReduceSum, ReduceMean, BroadcastTo
absl::Status RegisterSoftmaxOps(OpRegistry& registry);      // Softmax, LogSoftmax,
                                                            // SoftmaxCrossEntropy and grads
absl::Status RegisterNormalizationOps(OpRegistry& registry);  // LayerNorm and its grad
absl::Status RegisterEmbeddingOps(OpRegistry& registry);      // Embedding and its grad
absl::Status RegisterShapeOps(OpRegistry& registry);  // Reshape, Transpose, Concat, Split
absl::Status RegisterAttentionOps(OpRegistry& registry);  // CausalMask
absl::Status RegisterOptimizerOps(OpRegistry& registry);  // SgdUpdate, AdamUpdate, ...

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_OPS_BUILTIN_OPS_H_
