// Compares sbpflow's AVX-512 f32 GEMM with OpenBLAS on the products of the
// benchmark models (one thread): best-of-N and median GFLOP/s of each, and the
// largest difference between their results.
//
// Usage: gemm_bench [--repeats N]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "kernel/cpu/gemm.h"

namespace sbpflow {
namespace {

struct Case {
  const char* name;
  cpu::GemmRequest request;
};

cpu::GemmRequest Make(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  cpu::GemmRequest request{.transpose_a = ta, .transpose_b = tb, .m = m, .n = n, .k = k};
  request.lda = ta ? m : k;
  request.ldb = tb ? k : n;
  request.ldc = n;
  return request;
}

template <typename F>
std::pair<double, double> Time(int repeats, F run) {
  std::vector<double> seconds;
  for (int index = 0; index < repeats; ++index) {
    const auto start = std::chrono::steady_clock::now();
    run();
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return {seconds.front(), seconds[seconds.size() / 2]};
}

int Run(int repeats) {
  openblas_set_num_threads(1);
  if (!cpu::Avx512GemmAvailable()) {
    std::printf("no AVX-512 (or SBPFLOW_NO_AVX512 is set): every product runs on OpenBLAS\n");
    return 0;
  }
  const Case cases[] = {
      {"mlp fwd 256x1024x784", Make(false, false, 256, 1024, 784)},
      {"mlp fwd 256x1024x1024", Make(false, false, 256, 1024, 1024)},
      {"mlp dW  T 1024x1024x256", Make(true, false, 1024, 1024, 256)},
      {"mlp dW  T 784x1024x256", Make(true, false, 784, 1024, 256)},
      {"mlp dx  .T 256x1024x1024", Make(false, true, 256, 1024, 1024)},
      {"gpt qkv 1024x256x256", Make(false, false, 1024, 256, 256)},
      {"gpt fc  1024x1024x256", Make(false, false, 1024, 1024, 256)},
      {"gpt prj 1024x256x1024", Make(false, false, 1024, 256, 1024)},
      {"gpt dW  T 256x1024x1024", Make(true, false, 256, 1024, 1024)},
      {"gpt dx  .T 1024x256x1024", Make(false, true, 1024, 256, 1024)},
      {"att qk  .T 128x128x64", Make(false, true, 128, 128, 64)},
      {"att pv  128x64x128", Make(false, false, 128, 64, 128)},
      {"att dp  T 128x64x128", Make(true, false, 128, 64, 128)},
  };
  std::mt19937 random(1);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::printf("%-26s %14s %14s %10s\n", "product", "OpenBLAS GF/s", "AVX-512 GF/s", "max diff");
  for (const Case& item : cases) {
    const cpu::GemmRequest& request = item.request;
    std::vector<float> a(request.m * request.k), b(request.k * request.n);
    for (float& value : a) value = uniform(random);
    for (float& value : b) value = uniform(random);
    std::vector<float> c_blas(request.m * request.n), c_ours(request.m * request.n);
    const auto [blas_best, blas_median] = Time(repeats, [&] {
      cpu::OpenBlasGemm(request, 1.0f, a.data(), b.data(), 0.0f, c_blas.data());
    });
    const auto [ours_best, ours_median] = Time(
        repeats, [&] { cpu::Avx512Gemm(request, 1.0f, a.data(), b.data(), 0.0f, c_ours.data()); });
    double difference = 0;
    for (size_t index = 0; index < c_blas.size(); ++index) {
      difference = std::max(difference, std::abs(double(c_blas[index]) - c_ours[index]));
    }
    const double flops = 2.0 * request.m * request.n * request.k;
    std::printf("%-26s %6.1f (%5.1f) %6.1f (%5.1f) %10.2e\n", item.name, flops / blas_best / 1e9,
                flops / blas_median / 1e9, flops / ours_best / 1e9, flops / ours_median / 1e9,
                difference);
  }
  return 0;
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app{"AVX-512 GEMM against OpenBLAS"};
  int repeats = 20;
  app.add_option("--repeats", repeats, "timed repetitions per product")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  return sbpflow::Run(repeats);
}
