// The `gpt` model builder: a decoder-only transformer over bytes.
//
// tokens (features) i32[-1, seq] and targets (labels) i32[-1, seq];
// token embedding "wte" [vocab, hidden] + learned positions "wpe" [seq,
// hidden]; `layers` pre-LayerNorm blocks "block<i>" of causal multi-head
// self-attention (separate q/k/v projections [hidden, hidden] so a column
// split keeps heads whole, output projection "attn.proj") and a GeLU MLP
// ("mlp.fc" [hidden, 4 hidden], "mlp.proj" [4 hidden, hidden]), each with a
// residual; final LayerNorm "ln_f"; linear head "head.weight" [hidden, vocab];
// loss = mean cross-entropy of the next byte. Weights normal(0.02), biases
// zeros, LayerNorm gamma ones and beta zeros (GPT-2's scheme).
#ifndef SBPFLOW_GRAPH_MODELS_GPT_H_
#define SBPFLOW_GRAPH_MODELS_GPT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

struct GptOptions {
  int64_t layers = 4;
  int64_t hidden = 256;
  int64_t heads = 4;
  int64_t seq = 128;
  int64_t vocab = 256;
};

// Errors: a non-positive size, or hidden not divisible by heads
// (InvalidArgument naming the flag).
absl::StatusOr<Graph> BuildGpt(const OpRegistry& registry, const GptOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_MODELS_GPT_H_
