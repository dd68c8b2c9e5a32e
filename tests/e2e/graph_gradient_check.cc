#include "tests/e2e/graph_gradient_check.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/graph_proto.h"
#include "graph/optimizers/optimizer.h"
#include "tests/testing/reference_executor.h"

namespace sbpflow::testing {

absl::StatusOr<Graph> ConvertToFloat64(const Graph& graph, const OpRegistry& ops, int64_t batch) {
  proto::GraphDef def = GraphToProto(graph);
  for (proto::NodeDef& node : *def.mutable_nodes()) {
    const bool source =
        node.op() == "Placeholder" || node.op() == "Variable" || node.op() == "Const";
    auto& attrs = *node.mutable_attrs();
    // Sources without a dtype attr are f32 by default.
    if (source && attrs.count("dtype") == 0) attrs["dtype"].set_type(proto::DT_FLOAT);
    for (auto& [name, value] : attrs) {
      if (value.value_case() == proto::AttrValue::kType && value.type() == proto::DT_FLOAT) {
        value.set_type(proto::DT_DOUBLE);
      }
    }
  }
  return GraphFromProto(def, ops, absl::StrCat(graph.name(), " (f64)"), batch);
}

absl::StatusOr<GraphGradientReport> CheckGraphGradients(const Graph& forward, const OpRegistry& ops,
                                                        const KernelRegistry& kernels,
                                                        const std::map<std::string, Tensor>& feeds,
                                                        const GraphGradientCheckOptions& options) {
  Graph training = forward;
  OptimizerOptions sgd;
  SBP_ASSIGN_OR_RETURN(TrainingGraphInfo info, BuildTrainingGraph(&training, ops, sgd));
  const TensorRef loss = training.signature().loss;

  ReferenceExecutor executor(&training, &ops, &kernels);
  CpuAllocator& allocator = executor.allocator();
  std::map<std::string, Tensor> variables;
  for (int index = 0; index < forward.num_nodes(); ++index) {
    const Node& node = forward.node(index);
    if (node.op != "Variable") continue;
    variables[node.name] = RandomTensor(&allocator, node.outputs[0], options.seed + index,
                                        -options.value_scale, options.value_scale);
  }

  SBP_ASSIGN_OR_RETURN(std::vector<Tensor> analytic,
                       executor.Run(feeds, info.gradients, &variables));
  auto loss_at = [&](const std::map<std::string, Tensor>& values) -> absl::StatusOr<double> {
    std::map<std::string, Tensor> scratch = values;
    SBP_ASSIGN_OR_RETURN(std::vector<Tensor> fetched, executor.Run(feeds, {loss}, &scratch));
    if (fetched[0].dtype() != DataType::kFloat64) {
      return absl::InvalidArgumentError(
          absl::StrCat("the loss is ", fetched[0].DebugString(), "; convert the graph to f64"));
    }
    return fetched[0].data<double>()[0];
  };

  GraphGradientReport report;
  for (size_t v = 0; v < info.variables.size(); ++v) {
    const std::string& name = training.node(info.variables[v]).name;
    const Tensor& gradient = analytic[v];
    ++report.variables;
    for (int64_t element = 0; element < gradient.num_elements(); ++element) {
      std::map<std::string, Tensor> perturbed = variables;
      Tensor value = variables.at(name).Clone(&allocator);
      perturbed[name] = value;
      const double original = value.data<double>()[element];
      value.data<double>()[element] = original + options.epsilon;
      SBP_ASSIGN_OR_RETURN(const double plus, loss_at(perturbed));
      value.data<double>()[element] = original - options.epsilon;
      SBP_ASSIGN_OR_RETURN(const double minus, loss_at(perturbed));
      const double numeric = (plus - minus) / (2 * options.epsilon);
      const double exact = gradient.data<double>()[element];
      const double error = std::abs(numeric - exact);
      report.max_error = std::max(report.max_error, error);
      ++report.elements;
      if (error > options.absolute_tolerance + options.relative_tolerance * std::abs(numeric)) {
        return absl::InternalError(absl::StrCat("d loss / d ", name, "[", element, "]: analytic ",
                                                exact, ", numeric ", numeric));
      }
    }
  }
  return report;
}

}  // namespace sbpflow::testing
