// `sbpflow compile FILE --batch N --devices ... --mesh ... --strategy ... -o plan.pb`.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/optimizers/optimizer.h"
#include "sbp/compile.h"
#include "sbp/plan_proto.h"
#include "tools/command.h"
#include "tools/job.h"
#include "tools/plan_report.h"

namespace sbpflow {
namespace {

struct CompileRequest {
  JobOptions job;
  std::string optimizer = "sgd";
  OptimizerOptions optimizer_options;
  std::string output;
};

absl::Status Compile(const CompileRequest& request, const CommandContext& context) {
  SBP_RETURN_IF_ERROR(CheckJobOptions(request.job));
  SBP_RETURN_IF_ERROR(CheckOutputsDistinct({{"the graph file", request.job.graph_path}},
                                           {{"--output", request.output}}));
  OptimizerOptions optimizer = request.optimizer_options;
  SBP_ASSIGN_OR_RETURN(optimizer.kind, ParseOptimizerKind(request.optimizer));
  SBP_ASSIGN_OR_RETURN(auto rules, BuildBuiltinSbpRules());
  SBP_ASSIGN_OR_RETURN(Graph graph, LoadJobGraph(request.job.graph_path, *context.ops,
                                                 request.job.batch, /*need_loss=*/true));
  SBP_ASSIGN_OR_RETURN(CompiledPlan compiled,
                       CompileJobPlan(*context.ops, rules, request.job, graph, &optimizer));
  SBP_RETURN_IF_ERROR(WritePlanFile(compiled.plan, request.output));
  const std::vector<DeviceReport> reports = ReportPlan(compiled.plan);
  int64_t collectives = 0;
  for (const DeviceReport& report : reports) collectives += report.collectives;
  *context.out << "wrote " << request.output << ": " << compiled.plan.ops.size() << " ops, "
               << collectives << " collective ops on " << DescribePlacements(compiled) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddCompileCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<CompileRequest>();
  CLI::App* compile = app.add_subcommand("compile", "Write the physical plan of a training step");
  compile->add_option("file", request->job.graph_path, "Graph file")->required();
  compile->add_option("--batch", request->job.batch, "Examples per step")->required();
  compile->add_option("--devices", request->job.parallel.devices, "Devices, e.g. cpu:0-3")
      ->capture_default_str();
  compile->add_option("--mesh", request->job.parallel.mesh, "Device mesh, e.g. 2x2");
  compile->add_option("--axes", request->job.parallel.axes, "Mesh axis names, e.g. dp,tp");
  compile->add_option("--strategy", request->job.parallel.strategy.strategy, "dp, tp or dp,tp");
  compile->add_option("--zero", request->job.parallel.strategy.zero, "1 = ZeRO-1")
      ->capture_default_str();
  compile->add_option("--optimizer", request->optimizer, "sgd, adam or adamw")
      ->capture_default_str();
  compile->add_option("--lr", request->optimizer_options.learning_rate, "Learning rate")
      ->capture_default_str();
  compile->add_option("--momentum", request->optimizer_options.momentum, "SGD momentum")
      ->capture_default_str();
  compile->add_option("--pipeline", request->job.parallel.pipeline, "Pipeline ranks")
      ->capture_default_str();
  compile
      ->add_option("--micro-batches", request->job.parallel.micro_batches, "Micro-batches per step")
      ->capture_default_str();
  compile->add_option("--schedule", request->job.schedule, "gpipe, 1f1b, interleaved or zb-h1")
      ->capture_default_str();
  compile->add_option("--chunks", request->job.chunks, "Model chunks per rank (interleaved)")
      ->capture_default_str();
  compile->add_option("--link-latency-us", request->job.link_latency_us, "Link latency (costs)");
  compile->add_option("--link-gbps", request->job.link_gbps, "Link bandwidth (costs)");
  compile->add_option("-o,--output", request->output, "Plan file (.pb, or .pbtxt)")->required();
  compile->callback([request, action] {
    *action = [request](const CommandContext& context) { return Compile(*request, context); };
  });
}

}  // namespace sbpflow
