// General matrix products for the CPU kernels, with the cblas_?gemm contract
// on row-major buffers:
//
//   C[m, n] = alpha · op(A) op(B) + beta · C,  op(X) = X or Xᵀ,
//
// A is m×k (k×m when transposed) with row stride lda, B is k×n (n×k when
// transposed) with row stride ldb, C has row stride ldc. With beta == 0, C is
// not read (it may hold NaN). Requires m, n >= 0, k >= 1, and leading
// dimensions at least the row lengths.
//
// f32 products large enough to matter run on sbpflow's own AVX-512 kernel when
// the CPU has AVX-512F (checked once at run time), everything else on
// OpenBLAS. The kernel packs blocks of A and B into contiguous panels and
// accumulates every element of C in f32 over k in a fixed order, so results
// are bit-identical from run to run (they may differ from OpenBLAS's in the
// last bits, as two BLAS libraries do).
//
// Thread safety: any number of threads may call concurrently; each uses its
// own packing buffers (kept per thread and reused, so steady-state calls do not
// allocate).
#ifndef SBPFLOW_KERNEL_CPU_GEMM_H_
#define SBPFLOW_KERNEL_CPU_GEMM_H_

#include <cstdint>

namespace sbpflow::cpu {

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

void Gemm(const GemmRequest& request, float alpha, const float* a, const float* b, float beta,
          float* c);
void Gemm(const GemmRequest& request, double alpha, const double* a, const double* b, double beta,
          double* c);

// Whether this CPU runs the AVX-512 kernel, and whether Gemm uses it for
// `request` (f32; products too small or too narrow to fill the kernel's tiles
// go to OpenBLAS).
bool Avx512GemmAvailable();
bool UsesAvx512Gemm(const GemmRequest& request);

// The two f32 implementations, for tests and benchmarks. Avx512Gemm requires
// Avx512GemmAvailable().
void OpenBlasGemm(const GemmRequest& request, float alpha, const float* a, const float* b,
                  float beta, float* c);
void Avx512Gemm(const GemmRequest& request, float alpha, const float* a, const float* b, float beta,
                float* c);

}  // namespace sbpflow::cpu

#endif  // SBPFLOW_KERNEL_CPU_GEMM_H_
