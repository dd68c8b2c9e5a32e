// `sbpflow eval FILE --init-from CKPT --data ... [--batch N]`.
#include <iomanip>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "tools/command.h"
#include "tools/evaluation.h"
#include "tools/job.h"

namespace sbpflow {

void AddJobOptions(CLI::App* command, JobOptions* options);

namespace {

struct EvalRequest {
  JobOptions job;
  std::string init_from;
  int64_t batches = 8;
};

absl::Status Eval(const EvalRequest& request, const CommandContext& context) {
  SBP_RETURN_IF_ERROR(CheckJobOptions(request.job));
  if (request.batches < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batches must be >= 1, got ", request.batches));
  }
  SBP_ASSIGN_OR_RETURN(auto rules, BuildBuiltinSbpRules());
  JobContext job(context.ops, context.kernels, &rules);
  // A plan at the evaluation batch creates the variables, so the checkpoint
  // is in them before evaluation runs any step.
  VariableStore* variables = nullptr;
  std::unique_ptr<VariableStore> store;
  SBP_ASSIGN_OR_RETURN(Graph graph,
                       LoadJobGraph(request.job.graph_path, job.ops(), request.job.batch, true));
  SBP_ASSIGN_OR_RETURN(PlanRunner first,
                       StartPlan(job, request.job, graph, nullptr, &variables, &store));
  SBP_RETURN_IF_ERROR(LoadCheckpoint(request.init_from, variables, *context.err));
  SBP_ASSIGN_OR_RETURN(EvaluationResult result, Evaluate(job, request.job, &first.compiled,
                                                         &variables, &store, request.batches));
  *context.out << "loss: " << std::fixed << std::setprecision(4) << result.loss << " ("
               << result.examples << " examples)\n";
  if (result.accuracy.has_value()) {
    *context.out << "accuracy: " << std::setprecision(4) << *result.accuracy << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddEvalCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<EvalRequest>();
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a trained graph");
  AddJobOptions(eval, &request->job);
  eval->add_option("--init-from", request->init_from, "The checkpoint to evaluate")->required();
  eval->add_option("--batches", request->batches,
                   "Batches to evaluate for data sets without a test split")
      ->capture_default_str();
  eval->callback([request, action] {
    *action = [request](const CommandContext& context) { return Eval(*request, context); };
  });
}

}  // namespace sbpflow
