#include "graph/models/gpt.h"

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/graph_builder.h"

namespace sbpflow {
namespace {

class GptBuilder {
 public:
  GptBuilder(const OpRegistry& registry, const GptOptions& options)
      : options_(options), builder_(&graph_, &registry) {}

  absl::StatusOr<Graph> Build() {
    graph_.set_name(absl::StrCat("gpt_l", options_.layers, "_h", options_.hidden));
    const int64_t seq = options_.seq;
    const int64_t hidden = options_.hidden;
    SBP_ASSIGN_OR_RETURN(int tokens, builder_.AddNamedNode("tokens", "Placeholder", {},
                                                           AttrMap{{"shape", Shape{-1, seq}},
                                                                   {"dtype", DataType::kInt32}}));
    SBP_ASSIGN_OR_RETURN(int targets, builder_.AddNamedNode("targets", "Placeholder", {},
                                                            AttrMap{{"shape", Shape{-1, seq}},
                                                                    {"dtype", DataType::kInt32}}));
    SBP_ASSIGN_OR_RETURN(TensorRef wte, Weight("wte", Shape{options_.vocab, hidden}));
    SBP_ASSIGN_OR_RETURN(TensorRef wpe, Weight("wpe", Shape{seq, hidden}));
    std::vector<double> positions(seq);
    std::iota(positions.begin(), positions.end(), 0.0);
    builder_.set_name_prefix("embed/");
    SBP_ASSIGN_OR_RETURN(TensorRef position_ids,
                         builder_.Add("Const", {},
                                      AttrMap{{"shape", Shape{seq}},
                                              {"dtype", DataType::kInt32},
                                              {"value", positions}},
                                      "positions"));
    SBP_ASSIGN_OR_RETURN(TensorRef token_embedding,
                         builder_.Add("Embedding", {wte, TensorRef{tokens, 0}}, {}, "tokens"));
    SBP_ASSIGN_OR_RETURN(TensorRef position_embedding,
                         builder_.Add("Embedding", {wpe, position_ids}, {}, "positions"));
    SBP_ASSIGN_OR_RETURN(TensorRef x,
                         builder_.Add("Add", {token_embedding, position_embedding}, {}, "sum"));
    for (int64_t layer = 0; layer < options_.layers; ++layer) {
      SBP_ASSIGN_OR_RETURN(x, Block(absl::StrCat("block", layer), x));
    }
    SBP_ASSIGN_OR_RETURN(TensorRef normed, LayerNorm("ln_f", x));
    SBP_ASSIGN_OR_RETURN(TensorRef head, Weight("head.weight", Shape{hidden, options_.vocab}));
    builder_.set_name_prefix("head/");
    SBP_ASSIGN_OR_RETURN(TensorRef logits, builder_.Add("MatMul", {normed, head}, {}, "logits"));
    builder_.set_name_prefix("");
    SBP_ASSIGN_OR_RETURN(int loss, builder_.AddNamedNode("loss", "SoftmaxCrossEntropy",
                                                         {logits, TensorRef{targets, 0}}));
    GraphSignature& signature = graph_.mutable_signature();
    signature.loss = TensorRef{loss, 0};
    signature.features = "tokens";
    signature.labels = "targets";
    signature.logits = logits;
    return std::move(graph_);
  }

 private:
  absl::StatusOr<TensorRef> Variable(const std::string& name, Shape shape,
                                     const std::string& initializer) {
    SBP_ASSIGN_OR_RETURN(int node, builder_.AddNamedNode(name, "Variable", {},
                                                         AttrMap{{"shape", std::move(shape)},
                                                                 {"initializer", initializer}}));
    return TensorRef{node, 0};
  }
  absl::StatusOr<TensorRef> Weight(const std::string& name, Shape shape) {
    return Variable(name, std::move(shape), "normal(0.02)");
  }

  // x @ <name>.weight + <name>.bias.
  absl::StatusOr<TensorRef> Linear(const std::string& name, TensorRef x, int64_t in, int64_t out) {
    SBP_ASSIGN_OR_RETURN(TensorRef weight, Weight(absl::StrCat(name, ".weight"), Shape{in, out}));
    SBP_ASSIGN_OR_RETURN(TensorRef bias, Variable(absl::StrCat(name, ".bias"), Shape{out}, "zeros"));
    builder_.set_name_prefix(absl::StrCat(name, "/"));
    SBP_ASSIGN_OR_RETURN(TensorRef product, builder_.Add("MatMul", {x, weight}));
    return builder_.Add("Add", {product, bias}, {}, "bias_add");
  }

  absl::StatusOr<TensorRef> LayerNorm(const std::string& name, TensorRef x) {
    const int64_t hidden = options_.hidden;
    SBP_ASSIGN_OR_RETURN(TensorRef gamma,
                         Variable(absl::StrCat(name, ".gamma"), Shape{hidden}, "ones"));
    SBP_ASSIGN_OR_RETURN(TensorRef beta, Variable(absl::StrCat(name, ".beta"), Shape{hidden}, "zeros"));
    builder_.set_name_prefix(absl::StrCat(name, "/"));
    return builder_.Add("LayerNorm", {x, gamma, beta});
  }

  // [B, T, H] -> [B, heads, T, head_size].
  absl::StatusOr<TensorRef> SplitHeads(TensorRef x, absl::string_view name) {
    const int64_t head_size = options_.hidden / options_.heads;
    SBP_ASSIGN_OR_RETURN(
        TensorRef reshaped,
        builder_.Add("Reshape", {x},
                     AttrMap{{"shape", Shape{-1, options_.seq, options_.heads, head_size}}},
                     absl::StrCat(name, "_heads")));
    return builder_.Add("Transpose", {reshaped},
                        AttrMap{{"perm", std::vector<int64_t>{0, 2, 1, 3}}},
                        absl::StrCat(name, "_transposed"));
  }

  absl::StatusOr<TensorRef> Block(const std::string& name, TensorRef x) {
    const int64_t hidden = options_.hidden;
    const std::string attention = absl::StrCat(name, ".attn");
    SBP_ASSIGN_OR_RETURN(TensorRef normed, LayerNorm(absl::StrCat(name, ".ln1"), x));
    SBP_ASSIGN_OR_RETURN(TensorRef q, Linear(absl::StrCat(attention, ".q"), normed, hidden, hidden));
    SBP_ASSIGN_OR_RETURN(TensorRef k, Linear(absl::StrCat(attention, ".k"), normed, hidden, hidden));
    SBP_ASSIGN_OR_RETURN(TensorRef v, Linear(absl::StrCat(attention, ".v"), normed, hidden, hidden));
    builder_.set_name_prefix(absl::StrCat(attention, "/"));
    SBP_ASSIGN_OR_RETURN(TensorRef q_heads, SplitHeads(q, "q"));
    SBP_ASSIGN_OR_RETURN(TensorRef k_heads, SplitHeads(k, "k"));
    SBP_ASSIGN_OR_RETURN(TensorRef v_heads, SplitHeads(v, "v"));
    SBP_ASSIGN_OR_RETURN(TensorRef scores,
                         builder_.Add("BatchMatMul", {q_heads, k_heads},
                                      AttrMap{{"transpose_b", true}}, "scores"));
    const double scale = 1.0 / std::sqrt(static_cast<double>(hidden / options_.heads));
    SBP_ASSIGN_OR_RETURN(TensorRef scaled,
                         builder_.Add("Scale", {scores}, AttrMap{{"scale", scale}}, "scaled"));
    SBP_ASSIGN_OR_RETURN(TensorRef masked, builder_.Add("CausalMask", {scaled}, {}, "masked"));
    SBP_ASSIGN_OR_RETURN(TensorRef probs, builder_.Add("Softmax", {masked}, {}, "probs"));
    SBP_ASSIGN_OR_RETURN(TensorRef context,
                         builder_.Add("BatchMatMul", {probs, v_heads}, {}, "context"));
    SBP_ASSIGN_OR_RETURN(TensorRef merged,
                         builder_.Add("Transpose", {context},
                                      AttrMap{{"perm", std::vector<int64_t>{0, 2, 1, 3}}},
                                      "context_transposed"));
    SBP_ASSIGN_OR_RETURN(TensorRef flat,
                         builder_.Add("Reshape", {merged},
                                      AttrMap{{"shape", Shape{-1, options_.seq, hidden}}},
                                      "context_merged"));
    SBP_ASSIGN_OR_RETURN(TensorRef projected,
                         Linear(absl::StrCat(attention, ".proj"), flat, hidden, hidden));
    builder_.set_name_prefix(absl::StrCat(name, "/"));
    SBP_ASSIGN_OR_RETURN(TensorRef residual, builder_.Add("Add", {x, projected}, {}, "residual1"));
    SBP_ASSIGN_OR_RETURN(TensorRef normed2, LayerNorm(absl::StrCat(name, ".ln2"), residual));
    const std::string mlp = absl::StrCat(name, ".mlp");
    SBP_ASSIGN_OR_RETURN(TensorRef hidden_units,
                         Linear(absl::StrCat(mlp, ".fc"), normed2, hidden, 4 * hidden));
    builder_.set_name_prefix(absl::StrCat(mlp, "/"));
    SBP_ASSIGN_OR_RETURN(TensorRef activated, builder_.Add("Gelu", {hidden_units}));
    SBP_ASSIGN_OR_RETURN(TensorRef output,
                         Linear(absl::StrCat(mlp, ".proj"), activated, 4 * hidden, hidden));
    builder_.set_name_prefix(absl::StrCat(name, "/"));
    return builder_.Add("Add", {residual, output}, {}, "residual2");
  }

  GptOptions options_;
  Graph graph_;
  GraphBuilder builder_;
};

}  // namespace

absl::StatusOr<Graph> BuildGpt(const OpRegistry& registry, const GptOptions& options) {
  for (auto [flag, value] : {std::pair{"--layers", options.layers}, {"--hidden", options.hidden},
                             {"--heads", options.heads}, {"--seq", options.seq},
                             {"--vocab", options.vocab}}) {
    if (value < 1) return absl::InvalidArgumentError(absl::StrCat(flag, " must be >= 1, got ", value));
  }
  if (options.hidden % options.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--hidden ", options.hidden,
                                                   " is not divisible by --heads ",
                                                   options.heads));
  }
  GptBuilder builder(registry, options);
  return builder.Build();
}

}  // namespace sbpflow
