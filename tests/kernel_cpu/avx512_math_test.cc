// The vector exponentials of kernel/cpu/avx512.h against the C library.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "kernel/cpu/avx512.h"

namespace sbpflow::cpu {
namespace {

SBP_AVX512 void ExpOf(const float* in, float* out) {
  _mm512_storeu_ps(out, Exp(_mm512_loadu_ps(in)));
}

SBP_AVX512 void ExpDoubleOf(const double* in, double* out) {
  _mm512_storeu_pd(out, ExpDouble(_mm512_loadu_pd(in)));
}

// Distance in units in the last place between two finite floats of one sign.
int64_t UlpDistance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof(ia));
  std::memcpy(&ib, &b, sizeof(ib));
  return std::abs(static_cast<int64_t>(ia) - ib);
}

std::vector<float> ExpAll(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i += 16) ExpOf(&x[i], &y[i]);
  return y;
}

TEST(Avx512MathTest, ExpIsWithinTwoUlpsOfTheCLibrary) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  std::vector<float> x;
  for (int i = 0; i < 160000; ++i) x.push_back(-87.0f + 176.0f * i / 160000);
  const std::vector<float> y = ExpAll(x);
  int64_t worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float expected = std::exp(x[i]);
    if (!std::isfinite(expected)) continue;
    worst = std::max(worst, UlpDistance(y[i], expected));
  }
  EXPECT_LE(worst, 2);
}

TEST(Avx512MathTest, ExpLimits) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {
      0.0f,    -0.0f, 1.0f,    89.0f,    100.0f,
      inf,     -inf,  -104.0f, -1000.0f, std::numeric_limits<float>::quiet_NaN(),
      -100.0f, 88.5f, -87.5f,  0.5f,     -0.5f,
      2.0f};
  const std::vector<float> y = ExpAll(x);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_LE(UlpDistance(y[2], std::exp(1.0f)), 1);
  EXPECT_EQ(y[3], inf);
  EXPECT_EQ(y[4], inf);
  EXPECT_EQ(y[5], inf);
  EXPECT_EQ(y[6], 0.0f);
  EXPECT_EQ(y[7], 0.0f);
  EXPECT_EQ(y[8], 0.0f);
  EXPECT_TRUE(std::isnan(y[9]));
  // e^-100 is subnormal in f32: gradual underflow, not a flush to zero.
  EXPECT_GT(y[10], 0.0f);
  EXPECT_NEAR(y[10], std::exp(-100.0f), 2e-45);
  EXPECT_LE(UlpDistance(y[11], std::exp(88.5f)), 2);
}

TEST(Avx512MathTest, ExpDoubleIsAccurate) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  double worst = 0;
  for (int block = 0; block < 20000; ++block) {
    double x[8], y[8];
    for (int lane = 0; lane < 8; ++lane) x[lane] = -700.0 + 1400.0 * (block * 8 + lane) / 160000;
    ExpDoubleOf(x, y);
    for (int lane = 0; lane < 8; ++lane) {
      const double expected = std::exp(x[lane]);
      worst = std::max(worst, std::abs(y[lane] - expected) / expected);
    }
  }
  EXPECT_LT(worst, 1e-15);
  double limits[8] = {0.0,
                      710.0,
                      -746.0,
                      std::numeric_limits<double>::infinity(),
                      -std::numeric_limits<double>::infinity(),
                      std::numeric_limits<double>::quiet_NaN(),
                      1.0,
                      -1.0};
  double y[8];
  ExpDoubleOf(limits, y);
  EXPECT_EQ(y[0], 1.0);
  EXPECT_EQ(y[1], std::numeric_limits<double>::infinity());
  EXPECT_EQ(y[2], 0.0);
  EXPECT_EQ(y[3], std::numeric_limits<double>::infinity());
  EXPECT_EQ(y[4], 0.0);
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_NEAR(y[6], std::exp(1.0), 1e-15);
}

TEST(Avx512MathTest, TailMaskSelectsTheFirstLanes) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU (or SBPFLOW_NO_AVX512)";
  EXPECT_EQ(TailMask(0), 0);
  EXPECT_EQ(TailMask(1), 1);
  EXPECT_EQ(TailMask(5), 0x1F);
  EXPECT_EQ(TailMask(16), 0xFFFF);
  EXPECT_EQ(TailMask(100), 0xFFFF);
}

}  // namespace
}  // namespace sbpflow::cpu
