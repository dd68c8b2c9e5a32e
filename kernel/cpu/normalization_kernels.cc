// CPU kernels of LayerNorm and LayerNormGrad.
//
// Row statistics accumulate in double and the variance is computed from
// centered values (two passes), so rows with a large common offset keep their
// precision in f32.
#include <cmath>
#include <cstdint>
#include <vector>

#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

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
    for (int64_t row = 0; row < rows; ++row) {
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
