// The f32 kernels with AVX-512 fast paths (GeLU, softmax, cross-entropy,
// LayerNorm, SGD, Adam) against their f64 kernels on the same data, at row
// lengths around the 16-lane vector width. The binary also runs with
// SBPFLOW_NO_AVX512=1 (tests/kernel_cpu/CMakeLists.txt), so both the fast and
// the portable f32 paths are held to the same tolerances; the optimizer
// updates must match a scalar evaluation of their formula bit for bit.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/kernel.h"

namespace sbpflow {
namespace {

const KernelRegistry& Kernels() {
  static const KernelRegistry* registry = [] {
    auto built = BuildBuiltinKernelRegistry();
    CHECK(built.ok()) << built.status();
    return new KernelRegistry(*std::move(built));
  }();
  return *registry;
}

CpuAllocator* Host() {
  static CpuAllocator* allocator = new CpuAllocator;
  return allocator;
}

// Runs the CPU kernel of `op` for `dtype` on `inputs` into fresh outputs.
std::vector<Tensor> RunKernel(const std::string& op, DataType dtype, const AttrMap& attrs,
                              const std::vector<Tensor>& inputs,
                              const std::vector<Shape>& output_shapes) {
  const KernelFn* kernel = Kernels().Find(op, DeviceType::kCpu, dtype);
  CHECK(kernel != nullptr) << op;
  std::vector<Tensor> outputs;
  for (const Shape& shape : output_shapes) outputs.emplace_back(Host(), dtype, shape);
  KernelEnvironment environment{Host(), 0, 0};
  KernelContext context(&attrs, &inputs, &outputs, &environment);
  const absl::Status status = (*kernel)(context);
  CHECK(status.ok()) << op << ": " << status;
  return outputs;
}

// A random f32 tensor and the same values as f64.
struct Pair {
  Tensor f32;
  Tensor f64;
};

Pair RandomPair(const Shape& shape, float low, float high, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(shape.NumElements());
  for (float& value : values) value = uniform(random);
  return {Tensor::FromVector(Host(), shape, values),
          Tensor::FromVector(Host(), shape, std::vector<double>(values.begin(), values.end()))};
}

Pair ConstantPair(const Shape& shape, double value) {
  std::vector<float> values(shape.NumElements(), static_cast<float>(value));
  return {Tensor::FromVector(Host(), shape, values),
          Tensor::FromVector(Host(), shape, std::vector<double>(values.begin(), values.end()))};
}

// |f32 - f64| <= absolute + relative · |f64| for every element.
void ExpectClose(const Tensor& f32, const Tensor& f64, double absolute, double relative,
                 const std::string& label) {
  ASSERT_EQ(f32.num_elements(), f64.num_elements()) << label;
  const float* actual = f32.data<float>();
  const double* expected = f64.data<double>();
  int reported = 0;
  for (int64_t i = 0; i < f32.num_elements(); ++i) {
    const double bound = absolute + relative * std::abs(expected[i]);
    if (!(std::abs(actual[i] - expected[i]) <= bound) && reported++ < 5) {
      ADD_FAILURE() << label << ": element " << i << " is " << actual[i] << ", f64 gives "
                    << expected[i];
    }
  }
}

// Row lengths around the vector width, and a few rows.
const int64_t kWidths[] = {1, 7, 15, 16, 17, 33, 128, 259};

TEST(VectorKernelsTest, GeluAndGeluGradMatchF64) {
  for (int64_t width : kWidths) {
    const Shape shape{3, width};
    const Pair x = RandomPair(shape, -6.0f, 6.0f, 1 + width);
    const Pair dy = RandomPair(shape, -1.0f, 1.0f, 100 + width);
    const std::string label = absl::StrCat("width ", width);
    ExpectClose(RunKernel("Gelu", DataType::kFloat32, {}, {x.f32}, {shape})[0],
                RunKernel("Gelu", DataType::kFloat64, {}, {x.f64}, {shape})[0], 1e-6, 1e-6,
                "Gelu " + label);
    ExpectClose(RunKernel("GeluGrad", DataType::kFloat32, {}, {dy.f32, x.f32}, {shape})[0],
                RunKernel("GeluGrad", DataType::kFloat64, {}, {dy.f64, x.f64}, {shape})[0], 1e-6,
                1e-5, "GeluGrad " + label);
  }
}

TEST(VectorKernelsTest, GeluTailsAndZero) {
  const Shape shape{18};
  const std::vector<float> values = {-100, -30, -12,   -5,   -1e-3f, 0,  1e-3f, 5,  12,
                                     30,   100, -0.5f, 0.5f, 3,      -3, 1,     -1, 2};
  const Tensor x = Tensor::FromVector(Host(), shape, values);
  const Tensor y = RunKernel("Gelu", DataType::kFloat32, {}, {x}, {shape})[0];
  const Tensor ones = Tensor::FromVector(Host(), shape, std::vector<float>(18, 1.0f));
  const Tensor slope = RunKernel("GeluGrad", DataType::kFloat32, {}, {ones, x}, {shape})[0];
  EXPECT_EQ(y.data<float>()[0], -0.0f);
  EXPECT_EQ(y.data<float>()[5], 0.0f);
  EXPECT_EQ(y.data<float>()[10], 100.0f);
  EXPECT_EQ(slope.data<float>()[0], 0.0f);
  EXPECT_EQ(slope.data<float>()[5], 0.5f);
  EXPECT_EQ(slope.data<float>()[10], 1.0f);
  for (int i = 0; i < 18; ++i) {
    EXPECT_TRUE(std::isfinite(y.data<float>()[i])) << values[i];
    EXPECT_TRUE(std::isfinite(slope.data<float>()[i])) << values[i];
  }
}

TEST(VectorKernelsTest, SoftmaxAndSoftmaxGradMatchF64) {
  for (int64_t width : kWidths) {
    const Shape shape{4, width};
    const Pair x = RandomPair(shape, -20.0f, 20.0f, 3 + width);
    const Pair dy = RandomPair(shape, -1.0f, 1.0f, 300 + width);
    const AttrMap attrs{{"axis", int64_t{-1}}};
    const std::string label = absl::StrCat("width ", width);
    const std::vector<Tensor> y32 =
        RunKernel("Softmax", DataType::kFloat32, attrs, {x.f32}, {shape});
    const std::vector<Tensor> y64 =
        RunKernel("Softmax", DataType::kFloat64, attrs, {x.f64}, {shape});
    ExpectClose(y32[0], y64[0], 1e-7, 1e-6, "Softmax " + label);
    // The gradient from the same y in both precisions.
    std::vector<double> y_values(y32[0].data<float>(), y32[0].data<float>() + shape.NumElements());
    const Tensor y_f64 = Tensor::FromVector(Host(), shape, y_values);
    ExpectClose(RunKernel("SoftmaxGrad", DataType::kFloat32, attrs, {dy.f32, y32[0]}, {shape})[0],
                RunKernel("SoftmaxGrad", DataType::kFloat64, attrs, {dy.f64, y_f64}, {shape})[0],
                1e-7, 1e-5, "SoftmaxGrad " + label);
  }
}

TEST(VectorKernelsTest, SoftmaxOfMaskedRowsIgnoresTheMask) {
  const Shape shape{2, 20};
  std::vector<float> values(40, -1e9f);
  for (int k = 0; k < 3; ++k) values[k] = static_cast<float>(k);
  for (int k = 20; k < 40; ++k) values[k] = 1000.0f;
  const Tensor x = Tensor::FromVector(Host(), shape, values);
  const Tensor y =
      RunKernel("Softmax", DataType::kFloat32, AttrMap{{"axis", int64_t{-1}}}, {x}, {shape})[0];
  const float* p = y.data<float>();
  const double total = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(p[0], 1 / total, 1e-7);
  EXPECT_NEAR(p[2], std::exp(2.0) / total, 1e-7);
  for (int k = 3; k < 20; ++k) EXPECT_EQ(p[k], 0.0f);
  for (int k = 20; k < 40; ++k) EXPECT_NEAR(p[k], 0.05f, 1e-8);
}

TEST(VectorKernelsTest, CrossEntropyAndGradientMatchF64) {
  for (int64_t classes :
       {int64_t{1}, int64_t{7}, int64_t{10}, int64_t{16}, int64_t{17}, int64_t{256}}) {
    const int64_t rows = 5;
    const Shape shape{rows, classes};
    const Pair logits = RandomPair(shape, -30.0f, 30.0f, 7 + classes);
    std::vector<int32_t> label_values;
    for (int64_t row = 0; row < rows; ++row) label_values.push_back((row * 5 + 3) % classes);
    const Tensor labels = Tensor::FromVector(Host(), Shape{rows}, label_values);
    const AttrMap attrs{{"count", int64_t{0}}};
    const std::string label = absl::StrCat("classes ", classes);
    ExpectClose(RunKernel("SoftmaxCrossEntropy", DataType::kFloat32, attrs, {logits.f32, labels},
                          {Shape{}})[0],
                RunKernel("SoftmaxCrossEntropy", DataType::kFloat64, attrs, {logits.f64, labels},
                          {Shape{}})[0],
                1e-6, 1e-6, "SoftmaxCrossEntropy " + label);
    const Pair dloss = ConstantPair(Shape{}, 1.5);
    ExpectClose(RunKernel("SoftmaxCrossEntropyGrad", DataType::kFloat32, attrs,
                          {dloss.f32, logits.f32, labels}, {shape})[0],
                RunKernel("SoftmaxCrossEntropyGrad", DataType::kFloat64, attrs,
                          {dloss.f64, logits.f64, labels}, {shape})[0],
                // dloss / count rounds to f32 before the one-hot is subtracted.
                3e-8, 1e-6, "SoftmaxCrossEntropyGrad " + label);
  }
}

TEST(VectorKernelsTest, LayerNormAndGradientMatchF64) {
  for (int64_t width : kWidths) {
    const int64_t rows = 6;
    const Shape shape{rows, width};
    // A large common offset: the centered variance must keep its precision.
    const Pair x = RandomPair(shape, 90.0f, 110.0f, 11 + width);
    const Pair gamma = RandomPair(Shape{width}, 0.5f, 1.5f, 12 + width);
    const Pair beta = RandomPair(Shape{width}, -1.0f, 1.0f, 13 + width);
    const Pair dy = RandomPair(shape, -1.0f, 1.0f, 14 + width);
    const AttrMap attrs{{"epsilon", 1e-5}};
    const std::vector<Shape> shapes = {shape, Shape{rows}, Shape{rows}};
    const std::string label = absl::StrCat("width ", width);
    const std::vector<Tensor> out32 =
        RunKernel("LayerNorm", DataType::kFloat32, attrs, {x.f32, gamma.f32, beta.f32}, shapes);
    const std::vector<Tensor> out64 =
        RunKernel("LayerNorm", DataType::kFloat64, attrs, {x.f64, gamma.f64, beta.f64}, shapes);
    ExpectClose(out32[0], out64[0], 1e-5, 1e-5, "LayerNorm y " + label);
    ExpectClose(out32[1], out64[1], 0, 1e-7, "LayerNorm mean " + label);
    if (width > 1) ExpectClose(out32[2], out64[2], 0, 1e-5, "LayerNorm rstd " + label);
    // The gradient from the same saved statistics in both precisions.
    auto widen = [](const Tensor& t) {
      return Tensor::FromVector(
          Host(), t.shape(),
          std::vector<double>(t.data<float>(), t.data<float>() + t.num_elements()));
    };
    const std::vector<Shape> grad_shapes = {shape, Shape{width}, Shape{width}};
    const std::vector<Tensor> grad32 =
        RunKernel("LayerNormGrad", DataType::kFloat32, {},
                  {dy.f32, x.f32, gamma.f32, out32[1], out32[2]}, grad_shapes);
    const std::vector<Tensor> grad64 =
        RunKernel("LayerNormGrad", DataType::kFloat64, {},
                  {dy.f64, x.f64, gamma.f64, widen(out32[1]), widen(out32[2])}, grad_shapes);
    ExpectClose(grad32[0], grad64[0], 1e-6, 1e-6, "LayerNormGrad dx " + label);
    ExpectClose(grad32[1], grad64[1], 1e-6, 1e-6, "LayerNormGrad dgamma " + label);
    ExpectClose(grad32[2], grad64[2], 1e-6, 1e-6, "LayerNormGrad dbeta " + label);
  }
}

std::vector<float> Values(const Tensor& tensor) { return tensor.ToVector<float>(); }

// SGD in f32 exactly as the kernel's documented formula, one element at a time.
TEST(VectorKernelsTest, SgdUpdateIsBitExact) {
  for (double weight_decay : {0.0, 0.01}) {
    const Shape shape{37};
    const Pair var = RandomPair(shape, -1.0f, 1.0f, 21);
    const Pair grad = RandomPair(shape, -1.0f, 1.0f, 22);
    const Tensor lr = Tensor::FromVector(Host(), Shape{}, std::vector<float>{0.05f});
    std::vector<float> expected = Values(var.f32);
    const std::vector<float> g = Values(grad.f32);
    const float negative_lr = -0.05f;
    const float decay = static_cast<float>(weight_decay);
    for (size_t i = 0; i < expected.size(); ++i) {
      const float step = weight_decay != 0 ? g[i] + decay * expected[i] : g[i];
      expected[i] = expected[i] + negative_lr * step;
    }
    RunKernel("SgdUpdate", DataType::kFloat32, AttrMap{{"weight_decay", weight_decay}},
              {var.f32, grad.f32, lr}, {});
    EXPECT_EQ(Values(var.f32), expected) << "weight decay " << weight_decay;
  }
}

TEST(VectorKernelsTest, AdamUpdateIsBitExact) {
  for (bool decoupled : {false, true}) {
    for (double beta1 : {0.9, 0.3}) {  // both branches of the lerp
      const Shape shape{45};
      const Pair var = RandomPair(shape, -1.0f, 1.0f, 31);
      const Pair grad = RandomPair(shape, -1.0f, 1.0f, 32);
      const Pair m = RandomPair(shape, -0.1f, 0.1f, 33);
      const Pair v = RandomPair(shape, 0.0f, 0.01f, 34);
      const Tensor step = Tensor::FromVector(Host(), Shape{}, std::vector<float>{4.0f});
      const Tensor lr = Tensor::FromVector(Host(), Shape{}, std::vector<float>{3e-4f});
      const double beta2 = 0.999, epsilon = 1e-8, weight_decay = 0.01, lr_value = 3e-4f;
      // The kernel's formula (optimizer_kernels.cc), scalar.
      const double t = 5;
      const float negative_step_size = static_cast<float>(-(lr_value / (1 - std::pow(beta1, t))));
      const float correction2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, t)));
      const float shrink = static_cast<float>(1 - lr_value * weight_decay);
      const float weight = static_cast<float>(1 - beta1);
      std::vector<float> x = Values(var.f32), mm = Values(m.f32), vv = Values(v.f32);
      const std::vector<float> g0 = Values(grad.f32);
      for (size_t i = 0; i < x.size(); ++i) {
        const float g = decoupled ? g0[i] : g0[i] + static_cast<float>(weight_decay) * x[i];
        if (decoupled) x[i] *= shrink;
        mm[i] = 1 - beta1 < 0.5 ? mm[i] + weight * (g - mm[i]) : g - (g - mm[i]) * (1 - weight);
        vv[i] = vv[i] * static_cast<float>(beta2) + static_cast<float>(1 - beta2) * g * g;
        const float denominator = std::sqrt(vv[i]) / correction2 + static_cast<float>(epsilon);
        x[i] += negative_step_size * mm[i] / denominator;
      }
      RunKernel("AdamUpdate", DataType::kFloat32,
                AttrMap{{"beta1", beta1},
                        {"beta2", beta2},
                        {"epsilon", epsilon},
                        {"weight_decay", weight_decay},
                        {"decoupled", decoupled}},
                {var.f32, grad.f32, m.f32, v.f32, step, lr}, {});
      const std::string label = absl::StrCat("decoupled ", decoupled, " beta1 ", beta1);
      EXPECT_EQ(Values(var.f32), x) << label;
      EXPECT_EQ(Values(m.f32), mm) << label;
      EXPECT_EQ(Values(v.f32), vv) << label;
    }
  }
}

}  // namespace
}  // namespace sbpflow
