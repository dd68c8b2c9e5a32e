// Embedding lookup (gather of table rows) and its scatter-add gradient op
// (docs/ops.md, "Embedding").
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// ids.shape followed by `width`.
Shape AppendDim(const Shape& shape, int64_t width) {
  std::vector<int64_t> dims = shape.dims();
  dims.push_back(width);
  return Shape(std::move(dims));
}

absl::StatusOr<std::vector<TensorType>> InferEmbedding(const InferenceContext& context) {
  const TensorType& table = context.inputs[0];
  const TensorType& ids = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectFloating(table, "table"));
  SBP_RETURN_IF_ERROR(ExpectRank(table, 2, "table"));
  SBP_RETURN_IF_ERROR(ExpectInteger(ids, "ids"));
  return std::vector<TensorType>{{table.dtype, AppendDim(ids.shape, table.shape.dim(1))}};
}

// EmbeddingGrad(dy [..., H], ids [...]; vocab) -> [vocab, H].
absl::StatusOr<std::vector<TensorType>> InferEmbeddingGrad(const InferenceContext& context) {
  const TensorType& dy = context.inputs[0];
  const TensorType& ids = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectFloating(dy, "dy"));
  SBP_RETURN_IF_ERROR(ExpectInteger(ids, "ids"));
  const int64_t width = dy.shape.rank() == 0 ? 0 : dy.shape.dim(dy.shape.rank() - 1);
  if (dy.shape.rank() != ids.shape.rank() + 1 || AppendDim(ids.shape, width) != dy.shape) {
    // "[4,7,H]": the ids' shape followed by the table width.
    std::string expected = ids.shape.ToString();
    expected.insert(expected.size() - 1, ids.shape.rank() == 0 ? "H" : ",H");
    return absl::InvalidArgumentError(absl::StrCat("input 'dy' must have shape ", expected,
                                                   " to match ids ", ids.ToString(), ", got ",
                                                   dy.ToString()));
  }
  SBP_ASSIGN_OR_RETURN(int64_t vocab, context.attrs.GetInt("vocab"));
  if (vocab < 1) {
    return absl::InvalidArgumentError(absl::StrCat("attr 'vocab' must be >= 1, got ", vocab));
  }
  return std::vector<TensorType>{{dy.dtype, Shape{vocab, width}}};
}

// Only the table is differentiable; ids are integers.
absl::Status EmbeddingGradient(GradientContext& context) {
  if (!context.NeedsInputGrad(0)) return absl::OkStatus();
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  const int64_t vocab = context.input_type(0).shape.dim(0);
  SBP_ASSIGN_OR_RETURN(
      TensorRef dtable,
      context.builder().Add("EmbeddingGrad", {dy, context.input(1)}, AttrMap{{"vocab", vocab}}));
  context.SetInputGrad(0, dtable);
  return absl::OkStatus();
}

// A gather moves data without arithmetic.
int64_t NoFlops(const InferenceContext&, const std::vector<TensorType>&) { return 0; }

// One addition per element of dy.
int64_t EmbeddingGradFlops(const InferenceContext& context,
                           const std::vector<TensorType>& outputs) {
  const Shape& shape = context.inputs[0].shape;
  return shape.IsFullyKnown() ? shape.NumElements() : 0;
}

}  // namespace

absl::Status RegisterEmbeddingOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Embedding",
      .inputs = {{"table"}, {"ids"}},
      .infer = InferEmbedding,
      .gradient = EmbeddingGradient,
      .flops = NoFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "EmbeddingGrad",
      .inputs = {{"dy"}, {"ids"}},
      .attrs = {{"vocab", AttrType::kInt, std::nullopt}},
      .infer = InferEmbeddingGrad,
      .flops = EmbeddingGradFlops,
  }));
  return absl::OkStatus();
}

}  // namespace sbpflow
