// The f32 AVX-512 matrix product and the dispatch between it and OpenBLAS.
//
// Why our own kernel: Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) does not know
// recent AVX-512 CPUs such as AMD Zen 5 and runs its 256-bit Haswell kernels
// on them, half the vector width the hardware has.
//
// The structure is the classic one of GotoBLAS/BLIS: for a column block of B
// (kColumnBlock wide) and a depth block (kDepthBlock deep), B is packed into
// micro-panels of kColumns columns; for each row block of A (kRowBlock rows),
// A is packed into micro-panels of kRows rows; a micro-kernel then computes a
// kRows × kColumns tile of C from one A and one B micro-panel, holding the
// tile in 24 zmm registers (12 rows × two vectors of 16 floats). The B
// micro-panel stays in L1 while the A micro-panels of the row block stream
// from L2. Edge tiles are computed with fewer rows (a micro-kernel per row
// count) and column masks, from zero-padded B panels.
#include "kernel/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "glog/logging.h"
#include "kernel/cpu/avx512.h"

namespace sbpflow::cpu {
namespace {

constexpr int kRows = 12;
constexpr int kColumns = 32;
constexpr int64_t kDepthBlock = 256;
constexpr int64_t kRowBlock = 96;       // a multiple of kRows
constexpr int64_t kColumnBlock = 1024;  // a multiple of kColumns

// BLAS takes 32-bit extents; graph validation keeps tensors far below.
blasint BlasExtent(int64_t value) {
  CHECK_LE(value, std::numeric_limits<blasint>::max()) << "matrix extent too large for BLAS";
  return static_cast<blasint>(value);
}

CBLAS_TRANSPOSE BlasTranspose(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }

// A 64-byte aligned float buffer that only grows.
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { std::free(data_); }

  float* Get(int64_t count) {
    if (count > capacity_) {
      std::free(data_);
      const int64_t bytes = (count * static_cast<int64_t>(sizeof(float)) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

// Per thread, so concurrent kernels never share a buffer, and kept between
// calls, so that a training step's products do not page-fault fresh memory.
PackBuffer& PackedA() {
  thread_local PackBuffer buffer;
  return buffer;
}
PackBuffer& PackedB() {
  thread_local PackBuffer buffer;
  return buffer;
}

// C tile (Rows × columns, columns <= kColumns) = alpha · Σ_p a[p] b[p] +
// beta · C, where micro-panel `a` holds Rows values per depth step and `b`
// kColumns. C is read only when beta != 0.
template <int Rows>
SBP_AVX512 void MicroKernel(int64_t depth, const float* __restrict a, const float* __restrict b,
                            float* c, int64_t ldc, int columns, float alpha, float beta) {
  __m512 low[Rows];
  __m512 high[Rows];
#pragma GCC unroll 12
  for (int r = 0; r < Rows; ++r) {
    low[r] = _mm512_setzero_ps();
    high[r] = _mm512_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < depth; ++p) {
    const __m512 b_low = _mm512_load_ps(b);
    const __m512 b_high = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < Rows; ++r) {
      const __m512 a_value = _mm512_set1_ps(a[r]);
      low[r] = _mm512_fmadd_ps(a_value, b_low, low[r]);
      high[r] = _mm512_fmadd_ps(a_value, b_high, high[r]);
    }
    a += Rows;
    b += kColumns;
  }
  const __mmask16 low_mask =
      columns >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << columns) - 1);
  const __mmask16 high_mask = columns >= 32   ? __mmask16(0xFFFF)
                              : columns <= 16 ? __mmask16(0)
                                              : static_cast<__mmask16>((1u << (columns - 16)) - 1);
  const __m512 alpha_vector = _mm512_set1_ps(alpha);
  const __m512 beta_vector = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int r = 0; r < Rows; ++r) {
    float* row = c + r * ldc;
    __m512 out_low = _mm512_mul_ps(low[r], alpha_vector);
    __m512 out_high = _mm512_mul_ps(high[r], alpha_vector);
    if (beta != 0.0f) {
      out_low = _mm512_fmadd_ps(beta_vector, _mm512_maskz_loadu_ps(low_mask, row), out_low);
      out_high = _mm512_fmadd_ps(beta_vector, _mm512_maskz_loadu_ps(high_mask, row + 16), out_high);
    }
    _mm512_mask_storeu_ps(row, low_mask, out_low);
    _mm512_mask_storeu_ps(row + 16, high_mask, out_high);
  }
}

using MicroKernelFn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, float,
                               float);

constexpr MicroKernelFn kMicroKernels[kRows + 1] = {
    nullptr,         MicroKernel<1>,  MicroKernel<2>, MicroKernel<3>, MicroKernel<4>,
    MicroKernel<5>,  MicroKernel<6>,  MicroKernel<7>, MicroKernel<8>, MicroKernel<9>,
    MicroKernel<10>, MicroKernel<11>, MicroKernel<12>};

// Transposes a tile of up to 16 × 16 floats: dst[c · dst_stride + r] =
// src[r · src_stride + c] for r < rows, c < columns. Whole rows of the tile
// move through registers (three shuffle stages) instead of one float at a
// time, which matters because packing a transposed operand would otherwise
// cost a good part of the product itself.
SBP_AVX512 void TransposeTile(const float* src, int64_t src_stride, int rows, int columns,
                              float* dst, int64_t dst_stride) {
  const __mmask16 column_mask = TailMask(columns);
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    r[i] =
        i < rows ? _mm512_maskz_loadu_ps(column_mask, src + i * src_stride) : _mm512_setzero_ps();
  }
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] =
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(
        _mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(
        _mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  // r[4q + s] now holds, in 128-bit lane L, column 4L + s of rows 4q..4q+3
  // (lane L of the row block). Gather lane L of the four row blocks.
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) {
    const __m512 a = _mm512_shuffle_f32x4(r[s], r[4 + s], 0x44);  // lanes 0,1 | 0,1
    const __m512 b = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0x44);
    const __m512 c = _mm512_shuffle_f32x4(r[s], r[4 + s], 0xEE);  // lanes 2,3 | 2,3
    const __m512 d = _mm512_shuffle_f32x4(r[8 + s], r[12 + s], 0xEE);
    t[s] = _mm512_shuffle_f32x4(a, b, 0x88);       // lane 0 of each block: column s
    t[4 + s] = _mm512_shuffle_f32x4(a, b, 0xDD);   // lane 1: column 4 + s
    t[8 + s] = _mm512_shuffle_f32x4(c, d, 0x88);   // lane 2: column 8 + s
    t[12 + s] = _mm512_shuffle_f32x4(c, d, 0xDD);  // lane 3: column 12 + s
  }
  const __mmask16 row_mask = TailMask(rows);
#pragma GCC unroll 16
  for (int c = 0; c < 16; ++c) {
    if (c < columns) _mm512_mask_storeu_ps(dst + c * dst_stride, row_mask, t[c]);
  }
}

// Packs rows [row0, row0 + rows) × depth [depth0, depth0 + depth) of op(A)
// into micro-panels of kRows rows (the last one may have fewer): panel i
// starts at i · kRows · depth and holds, per depth step, its rows' values.
SBP_AVX512 void PackA(const GemmRequest& request, const float* a, int64_t row0, int64_t rows,
                      int64_t depth0, int64_t depth, float* out) {
  for (int64_t i = 0; i < rows; i += kRows) {
    const int panel_rows = static_cast<int>(std::min<int64_t>(kRows, rows - i));
    float* panel = out + i * depth;
    if (!request.transpose_a) {
      const float* source = a + (row0 + i) * request.lda + depth0;
      for (int64_t p = 0; p < depth; p += 16) {
        TransposeTile(source + p, request.lda, panel_rows,
                      static_cast<int>(std::min<int64_t>(16, depth - p)), panel + p * panel_rows,
                      panel_rows);
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        const float* source = a + (depth0 + p) * request.lda + row0 + i;
        std::memcpy(panel + p * panel_rows, source, panel_rows * sizeof(float));
      }
    }
  }
}

// Packs depth [depth0, depth0 + depth) × columns [column0, column0 + columns)
// of op(B) into micro-panels of kColumns columns, zero-padded: panel j starts
// at j · kColumns · depth.
SBP_AVX512 void PackB(const GemmRequest& request, const float* b, int64_t column0, int64_t columns,
                      int64_t depth0, int64_t depth, float* out) {
  for (int64_t j = 0; j < columns; j += kColumns) {
    const int panel_columns = static_cast<int>(std::min<int64_t>(kColumns, columns - j));
    float* panel = out + j * depth;
    if (!request.transpose_b) {
      const __mmask16 low_mask = panel_columns >= 16
                                     ? __mmask16(0xFFFF)
                                     : static_cast<__mmask16>((1u << panel_columns) - 1);
      const __mmask16 high_mask = panel_columns >= 32 ? __mmask16(0xFFFF)
                                  : panel_columns <= 16
                                      ? __mmask16(0)
                                      : static_cast<__mmask16>((1u << (panel_columns - 16)) - 1);
      for (int64_t p = 0; p < depth; ++p) {
        const float* source = b + (depth0 + p) * request.ldb + column0 + j;
        _mm512_store_ps(panel + p * kColumns, _mm512_maskz_loadu_ps(low_mask, source));
        _mm512_store_ps(panel + p * kColumns + 16, _mm512_maskz_loadu_ps(high_mask, source + 16));
      }
    } else {
      // Rows of the stored B are columns of op(B); missing ones pack as zeros.
      for (int c = 0; c < kColumns; c += 16) {
        const float* source = b + (column0 + j + c) * request.ldb + depth0;
        const int rows = std::clamp(panel_columns - c, 0, 16);
        for (int64_t p = 0; p < depth; p += 16) {
          TransposeTile(source + p, request.ldb, rows,
                        static_cast<int>(std::min<int64_t>(16, depth - p)),
                        panel + p * kColumns + c, kColumns);
        }
      }
    }
  }
}

}  // namespace

bool Avx512GemmAvailable() { return HasAvx512(); }

bool UsesAvx512Gemm(const GemmRequest& request) {
  // Narrow products would mostly multiply the zero padding of the tiles.
  return Avx512GemmAvailable() && request.n >= kColumns / 2 && request.m >= 4 && request.k >= 4;
}

void OpenBlasGemm(const GemmRequest& request, float alpha, const float* a, const float* b,
                  float beta, float* c) {
  cblas_sgemm(CblasRowMajor, BlasTranspose(request.transpose_a), BlasTranspose(request.transpose_b),
              BlasExtent(request.m), BlasExtent(request.n), BlasExtent(request.k), alpha, a,
              BlasExtent(request.lda), b, BlasExtent(request.ldb), beta, c,
              BlasExtent(request.ldc));
}

SBP_AVX512 void Avx512Gemm(const GemmRequest& request, float alpha, const float* a, const float* b,
                           float beta, float* c) {
  if (request.m == 0 || request.n == 0) return;
  float* packed_b = PackedB().Get(kDepthBlock * kColumnBlock);
  float* packed_a = PackedA().Get(kRowBlock * kDepthBlock);
  // Equal depth blocks: k = 784 runs as 4 × 196 rather than 3 × 256 + 16.
  const int64_t depth_blocks = (request.k + kDepthBlock - 1) / kDepthBlock;
  const int64_t depth_block = (request.k + depth_blocks - 1) / depth_blocks;
  for (int64_t column0 = 0; column0 < request.n; column0 += kColumnBlock) {
    const int64_t columns = std::min(kColumnBlock, request.n - column0);
    for (int64_t depth0 = 0; depth0 < request.k; depth0 += depth_block) {
      const int64_t depth = std::min(depth_block, request.k - depth0);
      // Later depth blocks add onto the partial sums in C.
      const float block_beta = depth0 == 0 ? beta : 1.0f;
      PackB(request, b, column0, columns, depth0, depth, packed_b);
      for (int64_t row0 = 0; row0 < request.m; row0 += kRowBlock) {
        const int64_t rows = std::min(kRowBlock, request.m - row0);
        PackA(request, a, row0, rows, depth0, depth, packed_a);
        for (int64_t j = 0; j < columns; j += kColumns) {
          const int panel_columns = static_cast<int>(std::min<int64_t>(kColumns, columns - j));
          for (int64_t i = 0; i < rows; i += kRows) {
            const int panel_rows = static_cast<int>(std::min<int64_t>(kRows, rows - i));
            kMicroKernels[panel_rows](depth, packed_a + i * depth, packed_b + j * depth,
                                      c + (row0 + i) * request.ldc + column0 + j, request.ldc,
                                      panel_columns, alpha, block_beta);
          }
        }
      }
    }
  }
}

void Gemm(const GemmRequest& request, float alpha, const float* a, const float* b, float beta,
          float* c) {
  if (UsesAvx512Gemm(request)) {
    Avx512Gemm(request, alpha, a, b, beta, c);
  } else {
    OpenBlasGemm(request, alpha, a, b, beta, c);
  }
}

void Gemm(const GemmRequest& request, double alpha, const double* a, const double* b, double beta,
          double* c) {
  cblas_dgemm(CblasRowMajor, BlasTranspose(request.transpose_a), BlasTranspose(request.transpose_b),
              BlasExtent(request.m), BlasExtent(request.n), BlasExtent(request.k), alpha, a,
              BlasExtent(request.lda), b, BlasExtent(request.ldb), beta, c,
              BlasExtent(request.ldc));
}

}  // namespace sbpflow::cpu
