// CPU kernels of LayerNorm and LayerNormGrad.
//
// Row statistics accumulate in double and the variance is computed from
// centered values (two passes), so rows with a large common offset keep their
// precision in f32. On AVX-512 CPUs f32 rows run the same double-precision
// expressions eight lanes at a time.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "base/status_macros.h"
#include "kernel/cpu/avx512.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

// Eight f32 values from `source` (lanes [0, count) only) widened to double.
SBP_AVX512 inline __m512d LoadWide(const float* source, int64_t count) {
  return _mm512_cvtps_pd(
      _mm256_maskz_loadu_ps(static_cast<__mmask8>(cpu::TailMask(count)), source));
}

SBP_AVX512 inline void StoreNarrow(float* target, int64_t count, __m512d values) {
  _mm256_mask_storeu_ps(target, static_cast<__mmask8>(cpu::TailMask(count)),
                        _mm512_cvtpd_ps(values));
}

struct LayerNormRows {
  const float* x;
  const float* gamma;
  const float* beta;
  float* y;
  float* mean;
  float* rstd;
  int64_t rows;
  int64_t width;
  double epsilon;
};

SBP_AVX512 void LayerNormAvx512(const LayerNormRows& job) {
  const int64_t width = job.width;
  for (int64_t row = 0; row < job.rows; ++row) {
    const float* x_row = job.x + row * width;
    float* y_row = job.y + row * width;
    __m512d sum = _mm512_setzero_pd();
    for (int64_t h = 0; h < width; h += 8) sum = _mm512_add_pd(sum, LoadWide(x_row + h, width - h));
    const double mean = _mm512_reduce_add_pd(sum) / width;
    const __m512d mean_vector = _mm512_set1_pd(mean);
    __m512d squares = _mm512_setzero_pd();
    for (int64_t h = 0; h < width; h += 8) {
      const __mmask8 mask = static_cast<__mmask8>(cpu::TailMask(width - h));
      const __m512d centered =
          _mm512_maskz_sub_pd(mask, LoadWide(x_row + h, width - h), mean_vector);
      squares = _mm512_add_pd(squares, _mm512_mul_pd(centered, centered));
    }
    const double rstd = 1.0 / std::sqrt(_mm512_reduce_add_pd(squares) / width + job.epsilon);
    const __m512d rstd_vector = _mm512_set1_pd(rstd);
    for (int64_t h = 0; h < width; h += 8) {
      const __m512d centered = _mm512_sub_pd(LoadWide(x_row + h, width - h), mean_vector);
      const __m512d scaled = _mm512_mul_pd(_mm512_mul_pd(centered, rstd_vector),
                                           LoadWide(job.gamma + h, width - h));
      StoreNarrow(y_row + h, width - h, _mm512_add_pd(scaled, LoadWide(job.beta + h, width - h)));
    }
    job.mean[row] = static_cast<float>(mean);
    job.rstd[row] = static_cast<float>(rstd);
  }
}

// y = (x - mean) · rstd · gamma + beta with rstd = 1/√(var + ε), biased var.
template <typename T>
struct LayerNormKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(double epsilon, context.attrs().GetFloat("epsilon"));
    const Tensor& x_tensor = context.input(0);
    const int64_t width = x_tensor.shape().dim(x_tensor.shape().rank() - 1);
    const int64_t rows = x_tensor.num_elements() / width;
    const T* x = x_tensor.data<T>();
    const T* gamma = context.input(1).data<T>();
    const T* beta = context.input(2).data<T>();
    T* y = context.output(0).data<T>();
    T* mean_out = context.output(1).data<T>();
    T* rstd_out = context.output(2).data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::HasAvx512()) {
        LayerNormAvx512({x, gamma, beta, y, mean_out, rstd_out, rows, width, epsilon});
        return absl::OkStatus();
      }
    }
    for (int64_t row = 0; row < rows; ++row) {
      const T* x_row = x + row * width;
      T* y_row = y + row * width;
      double sum = 0;
      for (int64_t h = 0; h < width; ++h) sum += x_row[h];
      const double mean = sum / width;
      double squares = 0;
      for (int64_t h = 0; h < width; ++h) {
        const double centered = x_row[h] - mean;
        squares += centered * centered;
      }
      const double rstd = 1.0 / std::sqrt(squares / width + epsilon);
      for (int64_t h = 0; h < width; ++h) {
        y_row[h] = static_cast<T>((x_row[h] - mean) * rstd * gamma[h] + beta[h]);
      }
      mean_out[row] = static_cast<T>(mean);
      rstd_out[row] = static_cast<T>(rstd);
    }
    return absl::OkStatus();
  }
};

struct LayerNormGradRows {
  const float* dy;
  const float* x;
  const float* gamma;
  const float* mean;
  const float* rstd;
  float* dx;
  double* dgamma;  // [width], accumulated
  double* dbeta;   // [width], accumulated
  int64_t rows;
  int64_t width;
};

SBP_AVX512 void LayerNormGradAvx512(const LayerNormGradRows& job) {
  const int64_t width = job.width;
  for (int64_t row = 0; row < job.rows; ++row) {
    const float* dy_row = job.dy + row * width;
    const float* x_row = job.x + row * width;
    float* dx_row = job.dx + row * width;
    const __m512d row_mean = _mm512_set1_pd(job.mean[row]);
    const __m512d row_rstd = _mm512_set1_pd(job.rstd[row]);
    __m512d g_sum = _mm512_setzero_pd();
    __m512d g_xhat_sum = _mm512_setzero_pd();
    for (int64_t h = 0; h < width; h += 8) {
      const __mmask8 mask = static_cast<__mmask8>(cpu::TailMask(width - h));
      const __m512d xhat =
          _mm512_mul_pd(_mm512_sub_pd(LoadWide(x_row + h, width - h), row_mean), row_rstd);
      const __m512d dy = LoadWide(dy_row + h, width - h);
      const __m512d g = _mm512_mul_pd(dy, LoadWide(job.gamma + h, width - h));
      g_sum = _mm512_add_pd(g_sum, g);
      g_xhat_sum = _mm512_add_pd(g_xhat_sum, _mm512_maskz_mul_pd(mask, g, xhat));
      _mm512_mask_storeu_pd(job.dgamma + h, mask,
                            _mm512_add_pd(_mm512_maskz_loadu_pd(mask, job.dgamma + h),
                                          _mm512_mul_pd(dy, xhat)));
      _mm512_mask_storeu_pd(job.dbeta + h, mask,
                            _mm512_add_pd(_mm512_maskz_loadu_pd(mask, job.dbeta + h), dy));
    }
    const __m512d g_mean = _mm512_set1_pd(_mm512_reduce_add_pd(g_sum) / width);
    const __m512d g_xhat_mean = _mm512_set1_pd(_mm512_reduce_add_pd(g_xhat_sum) / width);
    for (int64_t h = 0; h < width; h += 8) {
      const __m512d xhat =
          _mm512_mul_pd(_mm512_sub_pd(LoadWide(x_row + h, width - h), row_mean), row_rstd);
      const __m512d g =
          _mm512_mul_pd(LoadWide(dy_row + h, width - h), LoadWide(job.gamma + h, width - h));
      const __m512d inner =
          _mm512_sub_pd(_mm512_sub_pd(g, g_mean), _mm512_mul_pd(xhat, g_xhat_mean));
      StoreNarrow(dx_row + h, width - h, _mm512_mul_pd(row_rstd, inner));
    }
  }
}

// With x̂ = (x - mean) · rstd and g = dy · gamma (per row of width H):
//   dx = rstd · (g - mean(g) - x̂ · mean(g · x̂)),
//   dgamma = Σ_rows dy · x̂, dbeta = Σ_rows dy.
// Rows are visited in order, so the column sums are deterministic.
template <typename T>
struct LayerNormGradKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& x_tensor = context.input(1);
    const int64_t width = x_tensor.shape().dim(x_tensor.shape().rank() - 1);
    const int64_t rows = x_tensor.num_elements() / width;
    const T* dy = context.input(0).data<T>();
    const T* x = x_tensor.data<T>();
    const T* gamma = context.input(2).data<T>();
    const T* mean = context.input(3).data<T>();
    const T* rstd = context.input(4).data<T>();
    T* dx = context.output(0).data<T>();
    std::vector<double> dgamma(width, 0.0);
    std::vector<double> dbeta(width, 0.0);
    bool vectorized = false;
    if constexpr (std::is_same_v<T, float>) {
      if (cpu::HasAvx512()) {
        LayerNormGradAvx512({dy, x, gamma, mean, rstd, dx, dgamma.data(), dbeta.data(), rows, width});
        vectorized = true;
      }
    }
    for (int64_t row = 0; !vectorized && row < rows; ++row) {
      const T* dy_row = dy + row * width;
      const T* x_row = x + row * width;
      T* dx_row = dx + row * width;
      const double row_mean = mean[row];
      const double row_rstd = rstd[row];
      double g_sum = 0;
      double g_xhat_sum = 0;
      for (int64_t h = 0; h < width; ++h) {
        const double xhat = (x_row[h] - row_mean) * row_rstd;
        const double g = static_cast<double>(dy_row[h]) * gamma[h];
        g_sum += g;
        g_xhat_sum += g * xhat;
        dgamma[h] += dy_row[h] * xhat;
        dbeta[h] += dy_row[h];
      }
      const double g_mean = g_sum / width;
      const double g_xhat_mean = g_xhat_sum / width;
      for (int64_t h = 0; h < width; ++h) {
        const double xhat = (x_row[h] - row_mean) * row_rstd;
        const double g = static_cast<double>(dy_row[h]) * gamma[h];
        dx_row[h] = static_cast<T>(row_rstd * (g - g_mean - xhat * g_xhat_mean));
      }
    }
    T* dgamma_out = context.output(1).data<T>();
    T* dbeta_out = context.output(2).data<T>();
    for (int64_t h = 0; h < width; ++h) {
      dgamma_out[h] = static_cast<T>(dgamma[h]);
      dbeta_out[h] = static_cast<T>(dbeta[h]);
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterNormalizationCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<LayerNormKernel>(registry, "LayerNorm"));
  return RegisterFloatingCpuKernels<LayerNormGradKernel>(registry, "LayerNormGrad");
}

}  // namespace sbpflow
