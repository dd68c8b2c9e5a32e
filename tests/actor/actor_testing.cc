#include "tests/actor/actor_testing.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "google/protobuf/text_format.h"
#include "graph/graph_proto.h"
#include "graph/ops/builtin_ops.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow::testing {
namespace {

using Types = std::vector<TensorType>;

absl::StatusOr<Types> SameTwo(const InferenceContext& context) {
  if (context.inputs[0] != context.inputs[1]) {
    return absl::InvalidArgumentError(absl::StrCat("inputs differ: ", context.inputs[0].ToString(),
                                                   " vs ", context.inputs[1].ToString()));
  }
  return Types{context.inputs[0]};
}

absl::StatusOr<Types> SameOne(const InferenceContext& context) { return Types{context.inputs[0]}; }

absl::StatusOr<Types> RowSum(const InferenceContext& context) {
  const Shape& shape = context.inputs[0].shape;
  if (shape.rank() < 1) return absl::InvalidArgumentError("needs rank >= 1");
  return Types{{context.inputs[0].dtype,
                Shape(std::vector<int64_t>(shape.dims().begin() + 1, shape.dims().end()))}};
}

absl::StatusOr<Types> MatMul(const InferenceContext& context) {
  const Shape& a = context.inputs[0].shape;
  const Shape& b = context.inputs[1].shape;
  if (a.rank() != 2 || b.rank() != 2 || a.dim(1) != b.dim(0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad shapes ", a.ToString(), " x ", b.ToString()));
  }
  return Types{{context.inputs[0].dtype, Shape{a.dim(0), b.dim(1)}}};
}

absl::StatusOr<Types> NoOutputs(const InferenceContext& context) { return Types{}; }

template <typename T>
struct AddKernel {
  static absl::Status Compute(KernelContext& context) {
    const T* a = context.input(0).data<T>();
    const T* b = context.input(1).data<T>();
    T* out = context.output(0).data<T>();
    for (int64_t i = 0; i < context.output(0).num_elements(); ++i) out[i] = a[i] + b[i];
    return absl::OkStatus();
  }
};

template <typename T>
struct MulKernel {
  static absl::Status Compute(KernelContext& context) {
    const T* a = context.input(0).data<T>();
    const T* b = context.input(1).data<T>();
    T* out = context.output(0).data<T>();
    for (int64_t i = 0; i < context.output(0).num_elements(); ++i) out[i] = a[i] * b[i];
    return absl::OkStatus();
  }
};

template <typename T>
struct AffineKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(double scale, context.attrs().GetFloat("scale"));
    SBP_ASSIGN_OR_RETURN(double shift, context.attrs().GetFloat("shift"));
    const T* x = context.input(0).data<T>();
    T* out = context.output(0).data<T>();
    for (int64_t i = 0; i < context.output(0).num_elements(); ++i) {
      out[i] = x[i] * static_cast<T>(scale) + static_cast<T>(shift);
    }
    return absl::OkStatus();
  }
};

template <typename T>
struct RowSumKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& x = context.input(0);
    Tensor& out = context.output(0);
    const int64_t rows = x.shape().dim(0);
    const int64_t width = out.num_elements();
    T* sum = out.data<T>();
    for (int64_t i = 0; i < width; ++i) sum[i] = 0;
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t i = 0; i < width; ++i) sum[i] += x.data<T>()[row * width + i];
    }
    return absl::OkStatus();
  }
};

template <typename T>
struct MatMulKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& a = context.input(0);
    const Tensor& b = context.input(1);
    const int64_t n = a.shape().dim(0);
    const int64_t k = a.shape().dim(1);
    const int64_t m = b.shape().dim(1);
    T* out = context.output(0).data<T>();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        T sum = 0;
        for (int64_t p = 0; p < k; ++p) sum += a.data<T>()[i * k + p] * b.data<T>()[p * m + j];
        out[i * m + j] = sum;
      }
    }
    return absl::OkStatus();
  }
};

template <typename T>
struct SgdKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(double lr, context.attrs().GetFloat("lr"));
    T* var = context.input(0).data<T>();
    const T* grad = context.input(1).data<T>();
    for (int64_t i = 0; i < context.input(0).num_elements(); ++i) {
      var[i] -= static_cast<T>(lr) * grad[i];
    }
    return absl::OkStatus();
  }
};

template <typename T>
struct SleepKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(int64_t ms, context.attrs().GetInt("ms"));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    const Tensor& x = context.input(0);
    if (x.num_bytes() > 0) std::memcpy(context.output(0).raw_data(), x.raw_data(), x.num_bytes());
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterTestOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(
      registry.Register(OpDef{.name = "TestAdd", .inputs = {{"a"}, {"b"}}, .infer = SameTwo}));
  SBP_RETURN_IF_ERROR(
      registry.Register(OpDef{.name = "TestMul", .inputs = {{"a"}, {"b"}}, .infer = SameTwo}));
  SBP_RETURN_IF_ERROR(
      registry.Register(OpDef{.name = "TestAffine",
                              .inputs = {{"x"}},
                              .attrs = {{"scale", AttrType::kFloat, AttrValue(1.0)},
                                        {"shift", AttrType::kFloat, AttrValue(0.0)}},
                              .infer = SameOne}));
  SBP_RETURN_IF_ERROR(
      registry.Register(OpDef{.name = "TestRowSum", .inputs = {{"x"}}, .infer = RowSum}));
  SBP_RETURN_IF_ERROR(
      registry.Register(OpDef{.name = "TestMatMul", .inputs = {{"a"}, {"b"}}, .infer = MatMul}));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{.name = "TestSgd",
                                              .inputs = {{"var"}, {"grad"}},
                                              .attrs = {{"lr", AttrType::kFloat, std::nullopt}},
                                              .infer = NoOutputs,
                                              .mutable_inputs = {0}}));
  return registry.Register(OpDef{.name = "TestSleep",
                                 .inputs = {{"x"}},
                                 .attrs = {{"ms", AttrType::kInt, AttrValue(int64_t{1})}},
                                 .infer = SameOne});
}

absl::Status RegisterTestKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<AddKernel>(registry, "TestAdd")));
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<MulKernel>(registry, "TestMul")));
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<AffineKernel>(registry, "TestAffine")));
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<RowSumKernel>(registry, "TestRowSum")));
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<MatMulKernel>(registry, "TestMatMul")));
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<SgdKernel>(registry, "TestSgd")));
  return RegisterFloatingCpuKernels<SleepKernel>(registry, "TestSleep");
}

OpRegistry TestOpRegistry() {
  auto registry = BuildBuiltinOpRegistry();
  CHECK(registry.ok()) << registry.status();
  CHECK(RegisterTestOps(*registry).ok());
  return std::move(*registry);
}

KernelRegistry TestKernelRegistry() {
  auto registry = BuildBuiltinKernelRegistry();
  CHECK(registry.ok()) << registry.status();
  CHECK(RegisterTestKernels(*registry).ok());
  return std::move(*registry);
}

absl::StatusOr<Graph> ParseGraph(const std::string& text, const OpRegistry& ops, int64_t batch) {
  proto::GraphDef def;
  if (!google::protobuf::TextFormat::ParseFromString(text, &def)) {
    return absl::InvalidArgumentError("unparsable text GraphDef");
  }
  return GraphFromProto(def, ops, "test.pbtxt", batch);
}

PlanOp MakeOp(std::string name, std::string type, std::vector<PlanValue> inputs,
              std::vector<TensorType> outputs, Frequency frequency, PlanOpKind kind) {
  PlanOp op;
  op.name = std::move(name);
  op.type = std::move(type);
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  op.frequency = frequency;
  op.kind = kind;
  op.logical_node = op.name;
  return op;
}

PlanOp MakePlaceholder(std::string name, const TensorType& micro_batch) {
  PlanOp op = MakeOp(name, "Placeholder", {}, {micro_batch}, Frequency::kPerMicroBatch,
                     PlanOpKind::kPlaceholder);
  op.feed = std::move(name);
  op.box = FullBox(micro_batch.shape);
  return op;
}

absl::StatusOr<std::unique_ptr<RuntimeHarness>> MakeRuntime(PhysicalPlan plan,
                                                            const KernelRegistry* kernels,
                                                            RuntimeOptions options,
                                                            Communicator* communicator) {
  auto harness = std::make_unique<RuntimeHarness>();
  harness->contexts = MakeDeviceContexts(plan.devices);
  std::vector<DeviceContext*> devices;
  for (const auto& context : harness->contexts) devices.push_back(context.get());
  SBP_ASSIGN_OR_RETURN(harness->variables, VariableStore::Create(plan, 0, devices));
  harness->plan = std::make_shared<const PhysicalPlan>(std::move(plan));
  SBP_ASSIGN_OR_RETURN(harness->runtime,
                       Runtime::Create(harness->plan, kernels, harness->variables.get(), devices,
                                       communicator, options));
  return harness;
}

std::vector<float> Floats(const Tensor& tensor) { return tensor.ToVector<float>(); }

bool BitEqual(const Tensor& a, const Tensor& b) {
  return a.type() == b.type() &&
         (a.num_bytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0);
}

}  // namespace sbpflow::testing
