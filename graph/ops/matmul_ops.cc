// Matrix products. MatMul is a linear layer over any number of leading
// dimensions (or, with transpose_a, its weight gradient: aᵀb with the leading
// dimensions flattened); BatchMatMul multiplies matching batches of matrices.
// docs/ops.md states the shapes.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// Unknown (-1) extents match anything; they are bound before kernels run.
bool DimsMatch(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

// Same rank and matching extents except the last `trailing` axes.
bool LeadingDimsMatch(const Shape& a, const Shape& b, int trailing) {
  if (a.rank() != b.rank()) return false;
  for (int axis = 0; axis + trailing < a.rank(); ++axis) {
    if (!DimsMatch(a.dim(axis), b.dim(axis))) return false;
  }
  return true;
}

absl::Status Mismatch(absl::string_view what, const TensorType& a, const TensorType& b) {
  return absl::InvalidArgumentError(absl::StrCat(
      "inputs 'a' and 'b': ", what, " dimensions differ: ", a.ToString(), " vs ", b.ToString()));
}

absl::Status ExpectMinRank(const TensorType& type, int rank, absl::string_view input_name) {
  if (type.shape.rank() >= rank) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("input '", input_name, "' must have rank >= ", rank, ", got ", type.ToString()));
}

struct Transposes {
  bool a = false;
  bool b = false;
};

// Checks the dtypes of both operands and reads the transpose flags.
absl::StatusOr<Transposes> CheckOperands(const InferenceContext& context) {
  const TensorType& a = context.inputs[0];
  const TensorType& b = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectFloating(a, "a"));
  SBP_RETURN_IF_ERROR(ExpectFloating(b, "b"));
  SBP_RETURN_IF_ERROR(ExpectSameDataType(a, "a", b, "b"));
  SBP_ASSIGN_OR_RETURN(bool transpose_a, context.attrs.GetBool("transpose_a"));
  SBP_ASSIGN_OR_RETURN(bool transpose_b, context.attrs.GetBool("transpose_b"));
  return Transposes{transpose_a, transpose_b};
}

absl::StatusOr<std::vector<TensorType>> InferMatMul(const InferenceContext& context) {
  SBP_ASSIGN_OR_RETURN(Transposes transposes, CheckOperands(context));
  const TensorType& a = context.inputs[0];
  const TensorType& b = context.inputs[1];
  const Shape& a_shape = a.shape;
  const Shape& b_shape = b.shape;
  SBP_RETURN_IF_ERROR(ExpectMinRank(a, 2, "a"));
  if (!transposes.a) {
    // Linear layer: [..., K] x [K, N] (or [N, K]) -> [..., N].
    if (b_shape.rank() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("input 'b' must have rank 2 unless transpose_a is set, got ", b.ToString()));
    }
    const int64_t b_contraction = b_shape.dim(transposes.b ? 1 : 0);
    if (!DimsMatch(a_shape.dim(a_shape.rank() - 1), b_contraction)) {
      return Mismatch("contraction", a, b);
    }
    std::vector<int64_t> dims = a_shape.dims();
    dims.back() = b_shape.dim(transposes.b ? 0 : 1);
    return std::vector<TensorType>{{a.dtype, Shape(std::move(dims))}};
  }
  if (transposes.b) {
    if (a_shape.rank() != 2 || b_shape.rank() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("attrs 'transpose_a' and 'transpose_b': both set requires rank-2 "
                       "operands, got ",
                       a.ToString(), " and ", b.ToString()));
    }
    // [K, M] x [N, K] -> [M, N].
    if (!DimsMatch(a_shape.dim(0), b_shape.dim(1))) return Mismatch("contraction", a, b);
    return std::vector<TensorType>{{a.dtype, Shape{a_shape.dim(1), b_shape.dim(0)}}};
  }
  // Weight gradient: [..., M] x [..., N] -> [M, N], summed over the leading
  // dimensions.
  SBP_RETURN_IF_ERROR(ExpectMinRank(b, 2, "b"));
  if (!LeadingDimsMatch(a_shape, b_shape, 1)) return Mismatch("contraction", a, b);
  return std::vector<TensorType>{
      {a.dtype, Shape{a_shape.dim(a_shape.rank() - 1), b_shape.dim(b_shape.rank() - 1)}}};
}

absl::StatusOr<std::vector<TensorType>> InferBatchMatMul(const InferenceContext& context) {
  SBP_ASSIGN_OR_RETURN(Transposes transposes, CheckOperands(context));
  const TensorType& a = context.inputs[0];
  const TensorType& b = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectMinRank(a, 3, "a"));
  SBP_RETURN_IF_ERROR(ExpectMinRank(b, 3, "b"));
  if (!LeadingDimsMatch(a.shape, b.shape, 2)) return Mismatch("batch", a, b);
  const int rank = a.shape.rank();
  const int64_t rows = a.shape.dim(rank - (transposes.a ? 1 : 2));
  const int64_t a_contraction = a.shape.dim(rank - (transposes.a ? 2 : 1));
  const int64_t b_contraction = b.shape.dim(rank - (transposes.b ? 1 : 2));
  const int64_t columns = b.shape.dim(rank - (transposes.b ? 2 : 1));
  if (!DimsMatch(a_contraction, b_contraction)) return Mismatch("contraction", a, b);
  std::vector<int64_t> dims = a.shape.dims();
  dims[rank - 2] = rows;
  dims[rank - 1] = columns;
  return std::vector<TensorType>{{a.dtype, Shape(std::move(dims))}};
}

// 2 · (output elements) · K. For MatMul, K is a's last extent, or with
// transpose_a the product of its leading extents (which also covers the
// rank-2 aᵀbᵀ case).
int64_t MatMulFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  const Shape& a = context.inputs[0].shape;
  if (!a.IsFullyKnown() || !outputs[0].shape.IsFullyKnown()) return 0;
  const absl::StatusOr<bool> transpose_a = context.attrs.GetBoolOr("transpose_a", false);
  const int64_t contraction =
      transpose_a.ok() && *transpose_a ? a.NumElements(0, a.rank() - 1) : a.dim(a.rank() - 1);
  return 2 * outputs[0].shape.NumElements() * contraction;
}

int64_t BatchMatMulFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  const Shape& a = context.inputs[0].shape;
  if (!a.IsFullyKnown() || !outputs[0].shape.IsFullyKnown()) return 0;
  const absl::StatusOr<bool> transpose_a = context.attrs.GetBoolOr("transpose_a", false);
  const int64_t contraction = a.dim(a.rank() - (transpose_a.ok() && *transpose_a ? 2 : 1));
  return 2 * outputs[0].shape.NumElements() * contraction;
}

// For y = op(a)·op(b) both input gradients are products of the same op. For
// MatMul with transpose_a, "transposing" a rank > 2 operand sums over its
// leading dimensions, which is exactly the weight-gradient form, so one table
// serves MatMul and BatchMatMul.
GradientFn ProductGradient(std::string op) {
  return [op = std::move(op)](GradientContext& context) -> absl::Status {
    SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
    SBP_ASSIGN_OR_RETURN(bool transpose_a, context.attrs().GetBool("transpose_a"));
    SBP_ASSIGN_OR_RETURN(bool transpose_b, context.attrs().GetBool("transpose_b"));
    const TensorRef a = context.input(0);
    const TensorRef b = context.input(1);
    struct Product {
      TensorRef left;
      TensorRef right;
      bool transpose_left;
      bool transpose_right;
    };
    Product products[2];
    if (!transpose_a && !transpose_b) {  // y = a b
      products[0] = {dy, b, false, true};
      products[1] = {a, dy, true, false};
    } else if (!transpose_a) {  // y = a bᵀ
      products[0] = {dy, b, false, false};
      products[1] = {dy, a, true, false};
    } else if (!transpose_b) {  // y = aᵀ b
      products[0] = {b, dy, false, true};
      products[1] = {a, dy, false, false};
    } else {  // y = aᵀ bᵀ
      products[0] = {b, dy, true, true};
      products[1] = {dy, a, true, true};
    }
    GraphBuilder& builder = context.builder();
    for (int position : {0, 1}) {
      if (!context.NeedsInputGrad(position)) continue;
      const Product& product = products[position];
      SBP_ASSIGN_OR_RETURN(TensorRef grad,
                           builder.Add(op, {product.left, product.right},
                                       AttrMap{{"transpose_a", product.transpose_left},
                                               {"transpose_b", product.transpose_right}},
                                       position == 0 ? "da" : "db"));
      context.SetInputGrad(position, grad);
    }
    return absl::OkStatus();
  };
}

std::vector<AttrSpec> TransposeAttrs() {
  return {{"transpose_a", AttrType::kBool, AttrValue(false)},
          {"transpose_b", AttrType::kBool, AttrValue(false)}};
}

}  // namespace

absl::Status RegisterMatMulOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "MatMul",
      .inputs = {{"a"}, {"b"}},
      .attrs = TransposeAttrs(),
      .infer = InferMatMul,
      .gradient = ProductGradient("MatMul"),
      .flops = MatMulFlops,
  }));
  return registry.Register(OpDef{
      .name = "BatchMatMul",
      .inputs = {{"a"}, {"b"}},
      .attrs = TransposeAttrs(),
      .infer = InferBatchMatMul,
      .gradient = ProductGradient("BatchMatMul"),
      .flops = BatchMatMulFlops,
  });
}

}  // namespace sbpflow
