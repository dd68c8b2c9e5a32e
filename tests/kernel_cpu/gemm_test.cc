// cpu::Gemm and its two f32 implementations against a double-precision
// reference: every transpose combination, edge tiles (sizes around the 12 ×
// 32 tile and the depth block), padded leading dimensions, alpha and beta.
#include "kernel/cpu/gemm.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sbpflow::cpu {
namespace {

struct Problem {
  GemmRequest request;
  std::vector<float> a;
  std::vector<float> b;
  std::vector<float> c;  // initial C (read when beta != 0)
};

// Operands with `padding` extra columns in every stored row, so leading
// dimensions differ from row lengths.
Problem MakeProblem(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    int64_t padding, uint32_t seed) {
  Problem problem;
  GemmRequest& request = problem.request;
  request =
      GemmRequest{.transpose_a = transpose_a, .transpose_b = transpose_b, .m = m, .n = n, .k = k};
  const int64_t a_rows = transpose_a ? k : m;
  request.lda = (transpose_a ? m : k) + padding;
  const int64_t b_rows = transpose_b ? n : k;
  request.ldb = (transpose_b ? k : n) + padding;
  request.ldc = n + padding;
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  problem.a.resize(a_rows * request.lda);
  problem.b.resize(b_rows * request.ldb);
  problem.c.resize(m * request.ldc);
  for (float& value : problem.a) value = uniform(random);
  for (float& value : problem.b) value = uniform(random);
  for (float& value : problem.c) value = uniform(random);
  return problem;
}

double At(const std::vector<float>& matrix, int64_t ld, bool transpose, int64_t row, int64_t col) {
  return transpose ? matrix[col * ld + row] : matrix[row * ld + col];
}

// alpha · op(A) op(B) + beta · C in double.
std::vector<double> Reference(const Problem& problem, double alpha, double beta) {
  const GemmRequest& r = problem.request;
  std::vector<double> out(problem.c.begin(), problem.c.end());
  for (int64_t i = 0; i < r.m; ++i) {
    for (int64_t j = 0; j < r.n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < r.k; ++p) {
        sum +=
            At(problem.a, r.lda, r.transpose_a, i, p) * At(problem.b, r.ldb, r.transpose_b, p, j);
      }
      const double old = beta == 0 ? 0.0 : beta * problem.c[i * r.ldc + j];
      out[i * r.ldc + j] = alpha * sum + old;
    }
  }
  return out;
}

using GemmFn = void (*)(const GemmRequest&, float, const float*, const float*, float, float*);

// Runs `gemm` and checks every element of C against the reference, and that
// the padding of C's rows is untouched.
void ExpectMatches(GemmFn gemm, const Problem& problem, float alpha, float beta,
                   const std::string& label) {
  const GemmRequest& r = problem.request;
  std::vector<float> c = problem.c;
  if (beta == 0) {
    // With beta 0, C must not be read: NaN there would poison the result.
    for (int64_t i = 0; i < r.m; ++i) {
      for (int64_t j = 0; j < r.n; ++j) c[i * r.ldc + j] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  gemm(r, alpha, problem.a.data(), problem.b.data(), beta, c.data());
  const std::vector<double> expected = Reference(problem, alpha, beta);
  // f32 accumulation over k terms of magnitude <= 1.
  const double tolerance = 1e-6 * (r.k + 4);
  int reported = 0;
  for (int64_t i = 0; i < r.m; ++i) {
    for (int64_t j = 0; j < r.ldc; ++j) {
      const int64_t at = i * r.ldc + j;
      if (j >= r.n) {
        ASSERT_EQ(c[at], problem.c[at]) << label << ": padding written at " << i << "," << j;
        continue;
      }
      if (std::abs(c[at] - expected[at]) > tolerance && reported++ < 5) {
        ADD_FAILURE() << label << ": C[" << i << "," << j << "] = " << c[at] << ", expected "
                      << expected[at];
      }
    }
  }
}

const int64_t kSizes[] = {1, 5, 12, 13, 31, 32, 33, 100};

TEST(GemmTest, Avx512MatchesReferenceOnEveryShapeAndTranspose) {
  if (!Avx512GemmAvailable()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  uint32_t seed = 0;
  for (bool transpose_a : {false, true}) {
    for (bool transpose_b : {false, true}) {
      for (int64_t m : kSizes) {
        for (int64_t n : kSizes) {
          for (int64_t k : {int64_t{1}, int64_t{17}, int64_t{300}}) {
            const Problem problem =
                MakeProblem(transpose_a, transpose_b, m, n, k, /*padding=*/3, ++seed);
            ExpectMatches(Avx512Gemm, problem, 1.0f, 0.0f,
                          absl::StrCat("ta=", transpose_a, " tb=", transpose_b, " m=", m, " n=", n,
                                       " k=", k));
          }
        }
      }
    }
  }
}

TEST(GemmTest, Avx512HonorsAlphaAndBeta) {
  if (!Avx512GemmAvailable()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  const Problem problem = MakeProblem(false, true, 37, 70, 530, /*padding=*/0, 7);
  ExpectMatches(Avx512Gemm, problem, 1.0f, 1.0f, "beta 1");
  ExpectMatches(Avx512Gemm, problem, 2.0f, 0.5f, "alpha 2 beta 0.5");
  ExpectMatches(Avx512Gemm, problem, -0.25f, 0.0f, "alpha -0.25");
}

// Several column blocks (n > 1024) and row blocks (m > 96).
TEST(GemmTest, Avx512LargeProductsCrossEveryBlock) {
  if (!Avx512GemmAvailable()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  ExpectMatches(Avx512Gemm, MakeProblem(true, false, 200, 1100, 40, 1, 11), 1.0f, 0.0f,
                "transposed A, 1100 columns");
  ExpectMatches(Avx512Gemm, MakeProblem(false, true, 250, 1030, 20, 0, 12), 1.0f, 1.0f,
                "transposed B, 1030 columns");
}

// Small integers multiply and add exactly in f32, so any summation order
// gives the exact product.
TEST(GemmTest, IntegerProductsAreExact) {
  const int64_t m = 29, n = 45, k = 77;
  GemmRequest request{.m = m, .n = n, .k = k, .lda = k, .ldb = n, .ldc = n};
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (int64_t i = 0; i < m * k; ++i) a[i] = static_cast<float>(i % 7 - 3);
  for (int64_t i = 0; i < k * n; ++i) b[i] = static_cast<float>(i % 5 - 2);
  Gemm(request, 1.0f, a.data(), b.data(), 0.0f, c.data());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float expected = 0;
      for (int64_t p = 0; p < k; ++p) expected += a[i * k + p] * b[p * n + j];
      ASSERT_EQ(c[i * n + j], expected) << i << "," << j;
    }
  }
}

TEST(GemmTest, RepeatedCallsGiveIdenticalBits) {
  const Problem problem = MakeProblem(false, false, 64, 96, 700, 0, 5);
  std::vector<float> first(problem.c.size()), second(problem.c.size());
  Gemm(problem.request, 1.0f, problem.a.data(), problem.b.data(), 0.0f, first.data());
  Gemm(problem.request, 1.0f, problem.a.data(), problem.b.data(), 0.0f, second.data());
  EXPECT_EQ(first, second);
}

TEST(GemmTest, DispatchMatchesReferenceForWideAndNarrowProducts) {
  // n = 10 goes to OpenBLAS, n = 64 to the AVX-512 kernel where available.
  ExpectMatches(Gemm, MakeProblem(false, false, 50, 10, 64, 0, 3), 1.0f, 0.0f, "narrow");
  ExpectMatches(Gemm, MakeProblem(true, true, 50, 64, 64, 2, 4), 1.0f, 0.0f, "wide");
  EXPECT_FALSE(UsesAvx512Gemm(GemmRequest{.m = 50, .n = 10, .k = 64}));
  EXPECT_EQ(UsesAvx512Gemm(GemmRequest{.m = 50, .n = 64, .k = 64}), Avx512GemmAvailable());
}

TEST(GemmTest, OpenBlasMatchesReference) {
  ExpectMatches(OpenBlasGemm, MakeProblem(true, false, 33, 31, 300, 1, 9), 1.0f, 0.5f, "openblas");
}

TEST(GemmTest, DoubleGemmMatchesReference) {
  const GemmRequest request{
      .transpose_b = true, .m = 3, .n = 2, .k = 4, .lda = 4, .ldb = 4, .ldc = 2};
  const std::vector<double> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<double> b = {1, 0, 1, 0, 0, 1, 0, 1};
  std::vector<double> c(6, 1.0);
  Gemm(request, 1.0, a.data(), b.data(), 2.0, c.data());
  EXPECT_EQ(c, (std::vector<double>{6, 8, 14, 16, 22, 24}));
}

}  // namespace
}  // namespace sbpflow::cpu
