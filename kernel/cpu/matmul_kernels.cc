// MatMul and BatchMatMul through OpenBLAS GEMM. Transposes are BLAS flags on
// the row-major buffers, never copies. OpenBLAS's thread count belongs to the
// runtime; for a fixed thread count its results are deterministic.
#include <cblas.h>

#include <limits>

#include "base/status_macros.h"
#include "glog/logging.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

// C[m, n] = op(A) op(B) with row-major leading dimensions.
struct GemmRequest {
  bool transpose_a = false;
  bool transpose_b = false;
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  int64_t lda = 0;
  int64_t ldb = 0;
  int64_t ldc = 0;
};

// Shapes were validated by graph inference; BLAS takes 32-bit extents.
blasint BlasExtent(int64_t value) {
  CHECK_LE(value, std::numeric_limits<blasint>::max()) << "matrix extent too large for BLAS";
  return static_cast<blasint>(value);
}

void Gemm(const GemmRequest& request, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, request.transpose_a ? CblasTrans : CblasNoTrans,
              request.transpose_b ? CblasTrans : CblasNoTrans, BlasExtent(request.m),
              BlasExtent(request.n), BlasExtent(request.k), 1.0f, a, BlasExtent(request.lda), b,
              BlasExtent(request.ldb), 0.0f, c, BlasExtent(request.ldc));
}

void Gemm(const GemmRequest& request, const double* a, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, request.transpose_a ? CblasTrans : CblasNoTrans,
              request.transpose_b ? CblasTrans : CblasNoTrans, BlasExtent(request.m),
              BlasExtent(request.n), BlasExtent(request.k), 1.0, a, BlasExtent(request.lda), b,
              BlasExtent(request.ldb), 0.0, c, BlasExtent(request.ldc));
}

struct Transposes {
  bool a = false;
  bool b = false;
};

absl::StatusOr<Transposes> GetTransposes(const AttrMap& attrs) {
  Transposes transposes;
  SBP_ASSIGN_OR_RETURN(transposes.a, attrs.GetBoolOr("transpose_a", false));
  SBP_ASSIGN_OR_RETURN(transposes.b, attrs.GetBoolOr("transpose_b", false));
  return transposes;
}

// See docs/ops.md: without transpose_a, a is [..., K] and every row of it is
// multiplied by b; with transpose_a, a [..., M] and b [..., N] are flattened
// to [P, M] and [P, N] and the product is aᵀb (aᵀbᵀ for rank-2 operands with
// transpose_b).
template <typename T>
struct MatMulKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(Transposes transposes, GetTransposes(context.attrs()));
    const Tensor& a = context.input(0);
    const Tensor& b = context.input(1);
    Tensor& out = context.output(0);
    const Shape& a_shape = a.shape();
    const int a_rank = a_shape.rank();
    GemmRequest request{.transpose_a = transposes.a, .transpose_b = transposes.b};
    request.n = out.shape().dim(out.shape().rank() - 1);
    if (!transposes.a) {
      request.m = a_shape.NumElements(0, a_rank - 1);
      request.k = a_shape.dim(a_rank - 1);
      request.lda = request.k;
      request.ldb = transposes.b ? request.k : request.n;
    } else {
      request.m = a_shape.dim(a_rank - 1);
      request.k = a_shape.NumElements(0, a_rank - 1);
      request.lda = request.m;
      request.ldb = transposes.b ? request.k : request.n;
    }
    request.ldc = request.n;
    return Run(request, a.data<T>(), b.data<T>(), out);
  }

  static absl::Status Run(const GemmRequest& request, const T* a, const T* b, Tensor& out) {
    if (out.num_elements() == 0) return absl::OkStatus();
    // BLAS rejects a zero leading dimension, and an empty contraction is 0.
    if (request.k == 0) {
      out.SetZero();
      return absl::OkStatus();
    }
    Gemm(request, a, b, out.data<T>());
    return absl::OkStatus();
  }
};

// a [..., M, K] times b [..., K, N] per batch index (last two dimensions
// transposed by the flags).
template <typename T>
struct BatchMatMulKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(Transposes transposes, GetTransposes(context.attrs()));
    const Tensor& a = context.input(0);
    const Tensor& b = context.input(1);
    Tensor& out = context.output(0);
    const Shape& a_shape = a.shape();
    const Shape& b_shape = b.shape();
    const int rank = a_shape.rank();
    if (out.num_elements() == 0) return absl::OkStatus();
    GemmRequest request{.transpose_a = transposes.a, .transpose_b = transposes.b};
    request.m = out.shape().dim(rank - 2);
    request.n = out.shape().dim(rank - 1);
    request.k = a_shape.dim(transposes.a ? rank - 2 : rank - 1);
    if (request.k == 0) {
      out.SetZero();
      return absl::OkStatus();
    }
    request.lda = a_shape.dim(rank - 1);
    request.ldb = b_shape.dim(rank - 1);
    request.ldc = request.n;
    const int64_t batch = a_shape.NumElements(0, rank - 2);
    const int64_t a_size = a_shape.NumElements(rank - 2, rank);
    const int64_t b_size = b_shape.NumElements(rank - 2, rank);
    const int64_t out_size = request.m * request.n;
    const T* a_data = a.data<T>();
    const T* b_data = b.data<T>();
    T* out_data = out.data<T>();
    for (int64_t index = 0; index < batch; ++index) {
      Gemm(request, a_data + index * a_size, b_data + index * b_size, out_data + index * out_size);
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterMatMulCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<MatMulKernel>(registry, "MatMul"));
  return RegisterFloatingCpuKernels<BatchMatMulKernel>(registry, "BatchMatMul");
}

}  // namespace sbpflow
