#include "tests/testing/reference_executor.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/initializer.h"
#include "base/status_macros.h"

namespace sbpflow::testing {

absl::StatusOr<std::vector<Tensor>> ReferenceExecutor::Run(
    const std::map<std::string, Tensor>& feeds, const std::vector<TensorRef>& fetches,
    std::map<std::string, Tensor>* variables) {
  SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph_->TopologicalOrder());
  // Only the ancestors of the fetches run (mutating ops run when fetched or
  // when they are ancestors through control edges).
  std::vector<bool> needed(graph_->num_nodes(), false);
  for (const TensorRef& fetch : fetches) needed[fetch.node] = true;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (!needed[*it]) continue;
    const Node& node = graph_->node(*it);
    for (const TensorRef& input : node.inputs) needed[input.node] = true;
    for (int control : node.control_inputs) needed[control] = true;
  }
  std::vector<std::vector<Tensor>> values(graph_->num_nodes());
  KernelEnvironment environment{&allocator_, 0, 0};
  for (int index : order) {
    if (!needed[index]) continue;
    const Node& node = graph_->node(index);
    if (node.op == "Placeholder") {
      auto it = feeds.find(node.name);
      if (it == feeds.end()) {
        return absl::InvalidArgumentError(absl::StrCat("placeholder '", node.name, "' not fed"));
      }
      if (it->second.type() != node.outputs[0]) {
        return absl::InvalidArgumentError(absl::StrCat("placeholder '", node.name, "' fed ",
                                                       it->second.DebugString(), ", expected ",
                                                       node.outputs[0].ToString()));
      }
      values[index] = {it->second};
      continue;
    }
    if (node.op == "Variable") {
      auto it = variables->find(node.name);
      if (it == variables->end()) {
        SBP_ASSIGN_OR_RETURN(std::string text, node.attrs.GetString("initializer"));
        SBP_ASSIGN_OR_RETURN(Initializer init, ParseInitializer(text));
        SBP_ASSIGN_OR_RETURN(int64_t seed, node.attrs.GetInt("seed"));
        Tensor tensor(&allocator_, node.outputs[0].dtype, node.outputs[0].shape);
        const uint64_t key = InitializerKey(0, seed, node.name);
        for (int64_t i = 0; i < tensor.num_elements(); ++i) {
          const double value = InitializerValue(init, tensor.shape(), key, i);
          if (tensor.dtype() == DataType::kFloat32) {
            tensor.data<float>()[i] = static_cast<float>(value);
          } else {
            tensor.data<double>()[i] = value;
          }
        }
        it = variables->emplace(node.name, tensor).first;
      }
      values[index] = {it->second};
      continue;
    }
    std::vector<Tensor> inputs;
    std::vector<TensorType> input_types;
    for (const TensorRef& input : node.inputs) {
      inputs.push_back(values[input.node][input.output]);
      input_types.push_back(inputs.back().type());
    }
    std::vector<Tensor> outputs;
    for (const TensorType& type : node.outputs) {
      outputs.emplace_back(&allocator_, type.dtype, type.shape);
    }
    const DataType dtype = KernelDataType(input_types, node.outputs);
    const KernelFn* kernel = kernels_->Find(node.op, DeviceType::kCpu, dtype);
    if (kernel == nullptr) {
      return absl::NotFoundError(absl::StrCat("no CPU kernel for ", node.op, " (",
                                              DataTypeName(dtype), ")"));
    }
    KernelContext context(&node.attrs, &inputs, &outputs, &environment);
    absl::Status status = (*kernel)(context);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("node '", node.name, "': ", status.message()));
    }
    values[index] = std::move(outputs);
  }
  std::vector<Tensor> result;
  for (const TensorRef& fetch : fetches) result.push_back(values[fetch.node][fetch.output]);
  return result;
}

Tensor RandomTensor(Allocator* allocator, const TensorType& type, uint64_t seed, double low,
                    double high) {
  Tensor tensor(allocator, type.dtype, type.shape);
  for (int64_t i = 0; i < tensor.num_elements(); ++i) {
    const double value = low + (high - low) * UniformFromCounter(seed, i);
    switch (type.dtype) {
      case DataType::kFloat32:
        tensor.data<float>()[i] = static_cast<float>(value);
        break;
      case DataType::kFloat64:
        tensor.data<double>()[i] = value;
        break;
      case DataType::kInt32:
        tensor.data<int32_t>()[i] = static_cast<int32_t>(std::floor(value));
        break;
      case DataType::kInt64:
        tensor.data<int64_t>()[i] = static_cast<int64_t>(std::floor(value));
        break;
      case DataType::kBool:
        tensor.data<bool>()[i] = value >= (low + high) / 2;
        break;
      case DataType::kInvalid:
        break;
    }
  }
  return tensor;
}

}  // namespace sbpflow::testing
