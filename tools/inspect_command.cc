// `sbpflow inspect FILE [--json] [--dot] [--batch N]`: what a graph holds.
#include <iomanip>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "graph/graph_proto.h"
#include "nlohmann/json.hpp"
#include "tools/command.h"
#include "tools/graph_stats.h"
#include "tools/plan_report.h"
#include "sbp/plan_proto.h"

namespace sbpflow {
namespace {

struct InspectRequest {
  std::string path;
  bool json = false;
  bool dot = false;
  int64_t batch = 1;
};

std::string OutputsText(const Node& node) {
  return absl::StrJoin(node.outputs, " ", [](std::string* out, const TensorType& type) {
    out->append(type.ToString());
  });
}

// "1,234,567".
std::string Grouped(int64_t value) {
  std::string digits = absl::StrCat(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return value < 0 ? "-" + out : out;
}

nlohmann::json TypeJson(const TensorType& type) {
  return {{"dtype", std::string(DataTypeName(type.dtype))}, {"shape", type.shape.dims()}};
}

void PrintJson(const Graph& graph, const GraphStats& stats, std::ostream& out) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const Node& node : graph.nodes()) {
    nlohmann::json inputs = nlohmann::json::array();
    for (const TensorRef& input : node.inputs) inputs.push_back(graph.RefName(input));
    nlohmann::json outputs = nlohmann::json::array();
    for (const TensorType& type : node.outputs) outputs.push_back(TypeJson(type));
    nodes.push_back({{"name", node.name}, {"op", node.op}, {"inputs", inputs}, {"outputs", outputs}});
  }
  nlohmann::json result = {{"name", graph.name()},
                           {"batch", stats.batch},
                           {"nodes", nodes},
                           {"parameters", stats.parameters},
                           {"parameter_bytes", stats.parameter_bytes},
                           {"forward_flops", stats.forward_flops},
                           {"flops_per_step", stats.training_flops},
                           {"activation_bytes", stats.activation_bytes}};
  out << result.dump(2) << "\n";
}

void PrintDot(const Graph& graph, std::ostream& out) {
  out << "digraph \"" << graph.name() << "\" {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n";
  for (int index = 0; index < graph.num_nodes(); ++index) {
    const Node& node = graph.node(index);
    out << "  n" << index << " [label=\"" << node.name << "\\n" << node.op << "\"";
    if (node.op == "Variable") out << ", style=filled, fillcolor=lightyellow";
    if (node.op == "Placeholder") out << ", style=filled, fillcolor=lightblue";
    out << "];\n";
  }
  for (int index = 0; index < graph.num_nodes(); ++index) {
    for (const TensorRef& input : graph.node(index).inputs) {
      out << "  n" << input.node << " -> n" << index << " [label=\""
          << graph.type(input).ToString() << "\", fontsize=8];\n";
    }
    for (int control : graph.node(index).control_inputs) {
      out << "  n" << control << " -> n" << index << " [style=dashed];\n";
    }
  }
  out << "}\n";
}

void PrintTable(const Graph& graph, const GraphStats& stats, std::ostream& out) {
  size_t name_width = 4;
  size_t op_width = 2;
  for (const Node& node : graph.nodes()) {
    name_width = std::max(name_width, node.name.size());
    op_width = std::max(op_width, node.op.size());
  }
  out << "graph " << (graph.name().empty() ? "(unnamed)" : graph.name()) << ": "
      << graph.num_nodes() << " nodes, shapes at batch " << stats.batch << "\n\n";
  out << std::left << std::setw(name_width + 2) << "name" << std::setw(op_width + 2) << "op"
      << "outputs\n";
  for (const Node& node : graph.nodes()) {
    out << std::left << std::setw(name_width + 2) << node.name << std::setw(op_width + 2)
        << node.op << OutputsText(node) << "\n";
  }
  out << "\nparameters:        " << Grouped(stats.parameters) << " ("
      << Grouped(stats.parameter_bytes) << " bytes)\n";
  out << "forward FLOPs:     " << Grouped(stats.forward_flops) << " (batch " << stats.batch
      << ")\n";
  if (stats.trainable) {
    out << "FLOPs per step:    " << Grouped(stats.training_flops)
        << " (forward + backward + SGD update, batch " << stats.batch << ")\n";
    out << "activation memory: " << Grouped(stats.activation_bytes)
        << " bytes (inputs and forward outputs kept for backward, batch " << stats.batch << ")\n";
  }
}

}  // namespace

void AddInspectCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<InspectRequest>();
  CLI::App* inspect =
      app.add_subcommand("inspect", "Show a graph (nodes, shapes, totals) or a compiled plan");
  inspect->add_option("file", request->path, "Graph or plan file (.pb or .pbtxt)")->required();
  inspect->add_flag("--json", request->json, "One JSON object instead of a table");
  inspect->add_flag("--dot", request->dot, "Graphviz dot instead of a table");
  inspect->add_option("--batch", request->batch, "Batch size for shapes, FLOPs and memory")
      ->capture_default_str();
  inspect->callback([request, action] {
    *action = [request](const CommandContext& context) -> absl::Status {
      if (request->json && request->dot) {
        return absl::InvalidArgumentError("inspect: --json and --dot exclude each other");
      }
      if (request->batch < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--batch must be >= 1, got ", request->batch));
      }
      SBP_ASSIGN_OR_RETURN(std::optional<PhysicalPlan> plan, ReadPlanFile(request->path));
      if (plan.has_value()) {
        if (request->dot) {
          return absl::InvalidArgumentError(
              absl::StrCat(request->path, ": --dot draws graphs; this file is a plan"));
        }
        std::ostringstream text;
        if (request->json) {
          text << PlanJson(*plan).dump(2) << "\n";
        } else {
          PrintPlanTable(*plan, text);
        }
        *context.out << text.str();
        return absl::OkStatus();
      }
      SBP_ASSIGN_OR_RETURN(Graph graph,
                           LoadGraphFile(request->path, *context.ops, request->batch));
      SBP_ASSIGN_OR_RETURN(GraphStats stats,
                           ComputeGraphStats(graph, *context.ops, request->batch));
      std::ostringstream text;
      if (request->json) {
        PrintJson(graph, stats, text);
      } else if (request->dot) {
        PrintDot(graph, text);
      } else {
        PrintTable(graph, stats, text);
      }
      *context.out << text.str();
      return absl::OkStatus();
    };
  });
}

}  // namespace sbpflow
