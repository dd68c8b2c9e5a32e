// Walks the op registry and checks that every op has the pieces each layer
// needs (ARCHITECTURE.md, "Adding an op touches one file per layer"): CPU
// kernels for f32 and f64, a gradient where it is differentiable, and SBP
// rules. An op that lacks one fails with its name.
//
// Registries hold schemas, not dtypes, so each op is instantiated from an
// example below (inputs and attrs with a placeholder floating dtype); a new
// op without an example fails too, which is the prompt to add one.
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/autodiff.h"
#include "graph/graph_builder.h"
#include "graph/ops/builtin_ops.h"
#include "gtest/gtest.h"
#include "kernel/cpu/cpu_kernels.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

// An op's inputs and attrs for one floating dtype.
struct OpExample {
  std::vector<TensorType> inputs;
  AttrMap attrs;
};

using ExampleFn = std::function<OpExample(DataType)>;

TensorType Of(DataType dtype, std::vector<int64_t> dims) { return TensorType{dtype, Shape(dims)}; }

// One example per registered op; `f` is the floating dtype under test.
const std::map<std::string, ExampleFn>& Examples() {
  static const auto* examples = [] {
    auto* table = new std::map<std::string, ExampleFn>;
    const DataType i32 = DataType::kInt32;
    auto unary = [](DataType f) { return OpExample{{Of(f, {2, 3})}, {}}; };
    auto binary = [](DataType f) { return OpExample{{Of(f, {2, 3}), Of(f, {3})}, {}}; };
    auto unary_grad = [](DataType f) { return OpExample{{Of(f, {2, 3}), Of(f, {2, 3})}, {}}; };
    for (const char* op : {"Identity", "StopGradient", "Neg", "Exp", "Log", "Sqrt", "Square",
                           "Relu", "Gelu", "Tanh", "Softmax", "LogSoftmax"}) {
      (*table)[op] = unary;
    }
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) (*table)[op] = binary;
    for (const char* op : {"ReluGrad", "GeluGrad", "TanhGrad", "SoftmaxGrad", "LogSoftmaxGrad"}) {
      (*table)[op] = unary_grad;
    }
    (*table)["Placeholder"] = [](DataType f) {
      return OpExample{{}, AttrMap{{"shape", Shape{2, 3}}, {"dtype", f}}};
    };
    (*table)["Variable"] = [](DataType f) {
      return OpExample{{}, AttrMap{{"shape", Shape{2, 3}}, {"dtype", f}}};
    };
    (*table)["Const"] = [](DataType f) {
      return OpExample{
          {}, AttrMap{{"shape", Shape{2}}, {"dtype", f}, {"value", std::vector<double>{1, 2}}}};
    };
    (*table)["Scale"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3})}, AttrMap{{"scale", 0.5}}};
    };
    (*table)["CausalMask"] = [](DataType f) { return OpExample{{Of(f, {2, 3, 3})}, {}}; };
    (*table)["MatMul"] = [](DataType f) { return OpExample{{Of(f, {2, 3}), Of(f, {3, 4})}, {}}; };
    (*table)["BatchMatMul"] = [](DataType f) {
      return OpExample{{Of(f, {2, 2, 3}), Of(f, {2, 3, 4})}, {}};
    };
    (*table)["ReduceSum"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3})}, AttrMap{{"axes", std::vector<int64_t>{1}}}};
    };
    (*table)["ReduceMean"] = (*table)["ReduceSum"];
    (*table)["BroadcastTo"] = [](DataType f) {
      return OpExample{{Of(f, {3})}, AttrMap{{"shape", Shape{2, 3}}}};
    };
    (*table)["SoftmaxCrossEntropy"] = [i32](DataType f) {
      return OpExample{{Of(f, {2, 3}), Of(i32, {2})}, {}};
    };
    (*table)["SoftmaxCrossEntropyGrad"] = [i32](DataType f) {
      return OpExample{{Of(f, {}), Of(f, {2, 3}), Of(i32, {2})}, {}};
    };
    (*table)["LayerNorm"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3}), Of(f, {3}), Of(f, {3})}, {}};
    };
    (*table)["LayerNormGrad"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {3}), Of(f, {2}), Of(f, {2})}, {}};
    };
    (*table)["Embedding"] = [i32](DataType f) {
      return OpExample{{Of(f, {5, 3}), Of(i32, {2, 4})}, {}};
    };
    (*table)["EmbeddingGrad"] = [i32](DataType f) {
      return OpExample{{Of(f, {2, 4, 3}), Of(i32, {2, 4})}, AttrMap{{"vocab", int64_t{5}}}};
    };
    (*table)["Reshape"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3})}, AttrMap{{"shape", Shape{3, 2}}}};
    };
    (*table)["Transpose"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3})}, AttrMap{{"perm", std::vector<int64_t>{1, 0}}}};
    };
    (*table)["Concat"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3}), Of(f, {2, 1})}, AttrMap{{"axis", int64_t{1}}}};
    };
    (*table)["Split"] = [](DataType f) {
      return OpExample{{Of(f, {2, 4})},
                       AttrMap{{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{1, 3}}}};
    };
    (*table)["SgdUpdate"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {})}, {}};
    };
    (*table)["MomentumUpdate"] = [](DataType f) {
      return OpExample{{Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {})},
                       AttrMap{{"momentum", 0.9}}};
    };
    (*table)["AdamUpdate"] = [](DataType f) {
      return OpExample{
          {Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {2, 3}), Of(f, {}), Of(f, {})}, {}};
    };
    (*table)["IncrementStep"] = [](DataType f) { return OpExample{{Of(f, {})}, {}}; };
    (*table)["ClipFactor"] = [](DataType f) {
      return OpExample{{Of(f, {})}, AttrMap{{"clip_norm", 1.0}}};
    };
    return table;
  }();
  return *examples;
}

// Ops whose value the runtime provides itself (fed or held), so no kernel
// runs them.
const std::set<std::string>& OpsWithoutKernels() {
  static const auto* ops = new std::set<std::string>{"Placeholder", "Variable"};
  return *ops;
}

// Ops the lowering pass inserts: kernels without an op definition.
const std::set<std::string>& KernelOnlyOps() {
  static const auto* ops = new std::set<std::string>{"BoxingSlice", "BoxingZeroFill", "PackFlat",
                                                 "UnpackFlat"};
  return *ops;
}

// Differentiation stops at these by design (docs/ops.md): gradient ops have
// none, and optimizer ops run after the backward pass.
bool ExemptFromGradient(const std::string& op, const OpDef& def) {
  return absl::EndsWith(op, "Grad") || !def.mutable_inputs.empty() || op == "ClipFactor";
}

bool AnyFloating(const std::vector<TensorType>& types) {
  for (const TensorType& type : types) {
    if (IsFloatingPoint(type.dtype)) return true;
  }
  return false;
}

std::string TypesText(const std::vector<TensorType>& types) {
  return absl::StrJoin(
      types, ", ", [](std::string* out, const TensorType& type) { out->append(type.ToString()); });
}

// Builds placeholders -> op and runs the op's gradient function with a
// gradient flowing into output 0 only (other outputs may be statistics that
// gradients must not reach, like LayerNorm's mean and rstd); returns a
// problem, or nullopt when every floating input gets a gradient of its type.
std::optional<std::string> CheckGradientBuilds(const OpRegistry& ops, const std::string& op,
                                               const OpExample& example) {
  Graph graph;
  GraphBuilder builder(&graph, &ops);
  std::vector<TensorRef> inputs;
  for (size_t i = 0; i < example.inputs.size(); ++i) {
    auto node = builder.AddNamedNode(
        absl::StrCat("x", i), "Placeholder", {},
        AttrMap{{"shape", example.inputs[i].shape}, {"dtype", example.inputs[i].dtype}});
    if (!node.ok()) return std::string(node.status().message());
    inputs.push_back(TensorRef{*node, 0});
  }
  auto node = builder.AddNamedNode("op", op, inputs, example.attrs);
  if (!node.ok()) return std::string(node.status().message());
  std::vector<std::optional<TensorRef>> output_grads;
  const std::vector<TensorType> outputs = graph.node(*node).outputs;
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (k > 0 || !IsFloatingPoint(outputs[k].dtype)) {
      output_grads.push_back(std::nullopt);
      continue;
    }
    auto grad =
        builder.AddNamedNode(absl::StrCat("dy", k), "Placeholder", {},
                             AttrMap{{"shape", outputs[k].shape}, {"dtype", outputs[k].dtype}});
    if (!grad.ok()) return std::string(grad.status().message());
    output_grads.push_back(TensorRef{*grad, 0});
  }
  builder.set_role(NodeRole::kBackward);
  builder.set_name_prefix("grad/");
  GradientContext context(&builder, *node, output_grads);
  std::vector<bool> needs;
  for (const TensorType& input : example.inputs) needs.push_back(IsFloatingPoint(input.dtype));
  context.set_needs_input_grad(needs);
  absl::Status status = ops.Find(op)->gradient(context);
  if (!status.ok()) return absl::StrCat("gradient function failed: ", status.message());
  for (size_t i = 0; i < needs.size(); ++i) {
    if (!needs[i]) continue;
    const std::optional<TensorRef>& grad = context.input_grads()[i];
    if (!grad.has_value()) return absl::StrCat("gradient function gives no gradient for input ", i);
    if (graph.type(*grad) != example.inputs[i]) {
      return absl::StrCat("gradient of input ", i, " is ", graph.type(*grad).ToString(),
                          ", expected ", example.inputs[i].ToString());
    }
  }
  return std::nullopt;
}

// Every missing piece, one message per problem, each naming the op.
std::vector<std::string> FindRegistryProblems(const OpRegistry& ops, const KernelRegistry& kernels,
                                              const SbpRuleRegistry& rules) {
  std::vector<std::string> problems;
  const std::vector<std::string> names = ops.OpNames();
  const std::set<std::string> registered(names.begin(), names.end());
  for (const std::string& op : names) {
    const OpDef& def = *ops.Find(op);
    auto example_it = Examples().find(op);
    if (example_it == Examples().end()) {
      problems.push_back(absl::StrCat("op '", op,
                                      "': no example in registry_test.cc to check its kernels, "
                                      "gradient and SBP rules"));
      continue;
    }
    const SbpRuleFn* rule = rules.Find(op);
    if (rule == nullptr) problems.push_back(absl::StrCat("op '", op, "': no SBP rule"));
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat64}) {
      OpExample example = example_it->second(dtype);
      auto outputs = InferOutputs(def, "example", example.inputs, example.attrs);
      if (!outputs.ok()) {
        problems.push_back(absl::StrCat("op '", op, "': its ", DataTypeName(dtype),
                                        " example does not infer: ", outputs.status().message()));
        continue;
      }
      const bool floating = AnyFloating(example.inputs) || AnyFloating(*outputs);
      if (!floating) {
        problems.push_back(absl::StrCat("op '", op, "': its ", DataTypeName(dtype),
                                        " example has no floating tensor"));
        continue;
      }
      const DataType kernel_dtype = KernelDataType(example.inputs, *outputs);
      if (!OpsWithoutKernels().contains(op) &&
          kernels.Find(op, DeviceType::kCpu, kernel_dtype) == nullptr) {
        problems.push_back(absl::StrCat(
            "op '", op, "': no CPU kernel for ", DataTypeName(kernel_dtype), " (inputs [",
            TypesText(example.inputs), "], outputs [", TypesText(*outputs), "])"));
      }
      if (rule != nullptr) {
        SbpRuleContext context{example.inputs, *outputs, example.attrs, 2};
        for (const SbpSignature& signature : SignaturesFor(*rule, context)) {
          if (signature.inputs.size() != example.inputs.size() ||
              signature.outputs.size() != outputs->size()) {
            problems.push_back(absl::StrCat("op '", op, "': SBP signature ", signature.ToString(),
                                            " does not match ", example.inputs.size(),
                                            " input(s) and ", outputs->size(), " output(s)"));
            break;
          }
        }
      }
      if (dtype != DataType::kFloat64 || !AnyFloating(example.inputs) ||
          ExemptFromGradient(op, def)) {
        continue;
      }
      if (!def.gradient) {
        problems.push_back(absl::StrCat("op '", op, "': no gradient function"));
      } else if (op != "StopGradient") {  // autodiff never calls its gradient
        std::optional<std::string> problem = CheckGradientBuilds(ops, op, example);
        if (problem.has_value()) problems.push_back(absl::StrCat("op '", op, "': ", *problem));
      }
    }
  }
  for (const auto& [op, example] : Examples()) {
    if (!registered.contains(op)) {
      problems.push_back(absl::StrCat("example for op '", op, "' names no registered op"));
    }
  }
  std::set<std::string> kernel_ops;
  for (const KernelKey& key : kernels.Keys()) kernel_ops.insert(key.op);
  for (const std::string& op : kernel_ops) {
    if (!registered.contains(op) && !KernelOnlyOps().contains(op)) {
      problems.push_back(absl::StrCat("kernel for '", op, "' names no registered op"));
    }
  }
  for (const std::string& op : rules.Ops()) {
    if (!registered.contains(op)) {
      problems.push_back(absl::StrCat("SBP rule for '", op, "' names no registered op"));
    }
  }
  return problems;
}

TEST(RegistryTest, EveryBuiltinOpHasKernelsGradientAndSbpRules) {
  auto ops = BuildBuiltinOpRegistry();
  ASSERT_TRUE(ops.ok()) << ops.status();
  auto kernels = BuildBuiltinKernelRegistry();
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  auto rules = BuildBuiltinSbpRules();
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_GE(ops->OpNames().size(), Examples().size());
  const std::vector<std::string> problems = FindRegistryProblems(*ops, *kernels, *rules);
  EXPECT_TRUE(problems.empty()) << absl::StrJoin(problems, "\n");
}

TEST(RegistryTest, KernelOnlyOpsAreRegisteredKernels) {
  auto kernels = BuildBuiltinKernelRegistry();
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  for (const std::string& op : KernelOnlyOps()) {
    EXPECT_NE(kernels->Find(op, DeviceType::kCpu, DataType::kFloat32), nullptr) << op;
  }
}

// The walk itself: an op missing every piece is reported by name, piece by
// piece, and so are stale kernels and rules.
TEST(RegistryTest, ReportsEachMissingPieceByOpName) {
  auto ops = BuildBuiltinOpRegistry();
  ASSERT_TRUE(ops.ok()) << ops.status();
  auto kernels = BuildBuiltinKernelRegistry();
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  auto rules = BuildBuiltinSbpRules();
  ASSERT_TRUE(rules.ok()) << rules.status();

  // A copy of the builtins where Exp lost its gradient, Tanh is gone (its
  // kernels and rule remain) and a new op has no example; Sqrt loses its f64
  // kernel and Square its rule.
  OpRegistry changed;
  for (const std::string& name : ops->OpNames()) {
    OpDef def = *ops->Find(name);
    if (name == "Exp") def.gradient = nullptr;
    if (name == "Tanh") continue;
    ASSERT_TRUE(changed.Register(std::move(def)).ok());
  }
  OpDef frobnicate = *ops->Find("Neg");
  frobnicate.name = "Frobnicate";
  ASSERT_TRUE(changed.Register(std::move(frobnicate)).ok());

  KernelRegistry fewer_kernels;
  for (const KernelKey& key : kernels->Keys()) {
    if (key.op == "Sqrt" && key.dtype == DataType::kFloat64) continue;
    ASSERT_TRUE(fewer_kernels.Register(key, *kernels->Find(key.op, key.device, key.dtype)).ok());
  }
  SbpRuleRegistry fewer_rules;
  for (const std::string& op : rules->Ops()) {
    if (op == "Square") continue;
    ASSERT_TRUE(fewer_rules.Register(op, *rules->Find(op)).ok());
  }

  const std::vector<std::string> expected = {
      "op 'Exp': no gradient function",
      "op 'Frobnicate': no example in registry_test.cc to check its kernels, gradient and SBP "
      "rules",
      "op 'Sqrt': no CPU kernel for f64 (inputs [f64[2,3]], outputs [f64[2,3]])",
      "op 'Square': no SBP rule",
      "example for op 'Tanh' names no registered op",
      "kernel for 'Tanh' names no registered op",
      "SBP rule for 'Tanh' names no registered op"};
  EXPECT_EQ(FindRegistryProblems(changed, fewer_kernels, fewer_rules), expected);
}

}  // namespace
}  // namespace sbpflow
