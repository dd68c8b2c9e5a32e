// `sbpflow train FILE --data ... --batch N (--steps N | --epochs N) ...`.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "graph/optimizers/learning_rate.h"
#include "graph/optimizers/optimizer.h"
#include "io/data_spec.h"
#include "nlohmann/json.hpp"
#include "tools/command.h"
#include "tools/evaluation.h"
#include "tools/job.h"
#include "tools/progress.h"

namespace sbpflow {
namespace {

struct TrainRequest {
  JobOptions job;
  int64_t steps = 0;
  int64_t epochs = 0;
  // Whether the flags were given (set after parsing).
  bool steps_given = false;
  bool epochs_given = false;
  std::string optimizer = "sgd";
  std::string lr_schedule = "constant";
  int64_t warmup_steps = 0;
  OptimizerOptions optimizer_options;
  bool no_shuffle = false;
  std::string log_json;
  std::string save;
  std::string init_from;
  std::string trace;
};

absl::Status CheckRequest(const TrainRequest& request) {
  SBP_RETURN_IF_ERROR(CheckJobOptions(request.job));
  if (request.steps_given == request.epochs_given) {
    return absl::InvalidArgumentError("give exactly one of --steps and --epochs");
  }
  if (request.steps_given && request.steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--steps must be >= 0, got ", request.steps));
  }
  if (request.epochs_given && request.epochs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--epochs must be >= 1, got ", request.epochs));
  }
  if (request.warmup_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--warmup-steps must be >= 0, got ", request.warmup_steps));
  }
  // Training would write a checkpoint over the graph it read (or a log over
  // the checkpoint it writes) without a word.
  std::vector<PathRole> inputs = {{"the graph file", request.job.graph_path},
                                  {"the --init-from checkpoint", request.init_from}};
  absl::StatusOr<DataSpec> data = ParseDataSpec(request.job.data);
  if (data.ok() && data->kind == DataSpec::Kind::kText) {
    inputs.push_back({"the --data text file", data->path});
  }
  SBP_RETURN_IF_ERROR(CheckOutputsDistinct(
      inputs,
      {{"--log-json", request.log_json}, {"--save", request.save}, {"--trace", request.trace}}));
  // Output paths are checked now, so a run does not train only to fail at
  // its end.
  const std::pair<const char*, const std::string*> outputs[] = {
      {"--log-json", &request.log_json}, {"--save", &request.save}, {"--trace", &request.trace}};
  for (const auto& [flag, path] : outputs) {
    if (!path->empty()) SBP_RETURN_IF_ERROR(CheckOutputWritable(flag, *path));
  }
  return absl::OkStatus();
}

// Removes the files a failed run started writing.
class OutputGuard {
 public:
  void Track(const std::string& path) { paths_.push_back(path); }
  void Release() { paths_.clear(); }
  ~OutputGuard() {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }

 private:
  std::vector<std::string> paths_;
};

// Writes this step's learning rate into the "optimizer.lr" variable.
absl::Status SetLearningRate(VariableStore* variables, double learning_rate, Allocator* allocator) {
  for (const VariableSpec& spec : variables->variables()) {
    if (spec.name != kLearningRateVariable) continue;
    Tensor value(allocator, spec.logical.dtype, Shape{});
    if (spec.logical.dtype == DataType::kFloat32) {
      value.data<float>()[0] = static_cast<float>(learning_rate);
    } else {
      value.data<double>()[0] = learning_rate;
    }
    return variables->WriteLogical(spec.name, value);
  }
  return absl::OkStatus();
}

std::string MiB(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

absl::Status Train(const TrainRequest& request, const CommandContext& context) {
  SBP_RETURN_IF_ERROR(CheckRequest(request));
  TrainRequest job_request = request;
  JobOptions& options = job_request.job;
  options.trace = !request.trace.empty();
  OptimizerOptions optimizer = request.optimizer_options;
  SBP_ASSIGN_OR_RETURN(optimizer.kind, ParseOptimizerKind(request.optimizer));
  SBP_RETURN_IF_ERROR(ValidateOptimizerOptions(optimizer));

  SBP_ASSIGN_OR_RETURN(auto rules, BuildBuiltinSbpRules());
  JobContext job(context.ops, context.kernels, &rules);
  SBP_ASSIGN_OR_RETURN(Graph graph,
                       LoadJobGraph(options.graph_path, job.ops(), options.batch, true));
  SBP_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> dataset,
                       OpenJobData(options, graph, !request.no_shuffle, /*test_split=*/false));
  if (request.epochs_given &&
      request.epochs > std::numeric_limits<int64_t>::max() / dataset->batches_per_epoch()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--epochs must be <= ", std::numeric_limits<int64_t>::max() / dataset->batches_per_epoch(),
        " for --data ", request.job.data, " (", dataset->batches_per_epoch(),
        " batches per epoch), got ", request.epochs));
  }
  const int64_t total_steps =
      request.steps_given ? request.steps : request.epochs * dataset->batches_per_epoch();
  LearningRateSchedule schedule;
  SBP_ASSIGN_OR_RETURN(schedule.kind, ParseLearningRateSchedule(request.lr_schedule));
  schedule.base = optimizer.learning_rate;
  schedule.warmup_steps = request.warmup_steps;
  schedule.total_steps = total_steps;

  VariableStore* variables = nullptr;
  std::unique_ptr<VariableStore> store;
  SBP_ASSIGN_OR_RETURN(PlanRunner runner,
                       StartPlan(job, options, graph, &optimizer, &variables, &store));
  if (!request.init_from.empty()) {
    SBP_RETURN_IF_ERROR(LoadCheckpoint(request.init_from, variables, *context.err));
  }

  // Every check passed: outputs may be written now.
  OutputGuard guard;
  std::unique_ptr<std::ofstream> log;
  if (!request.log_json.empty()) {
    log = std::make_unique<std::ofstream>(request.log_json, std::ios::trunc);
    if (!*log) {
      return absl::InvalidArgumentError(
          absl::StrCat("--log-json: cannot write ", request.log_json));
    }
    guard.Track(request.log_json);
  }
  // Printed once the first step has run (or when there is none): a job that
  // cannot run then fails with its one error line and nothing before it.
  bool announced = false;
  auto announce = [&] {
    if (announced) return;
    announced = true;
    *context.err << dataset->Describe() << "; " << total_steps << " steps of " << options.batch
                 << " on " << DescribePlacements(runner.compiled) << "\n";
  };

  CpuAllocator host;
  ProgressBar progress(context.err, total_steps, options.batch, isatty(STDERR_FILENO) == 1);
  double last_loss = 0;
  for (int64_t step = 0; step < total_steps; ++step) {
    SBP_RETURN_IF_ERROR(SetLearningRate(variables, LearningRateAt(schedule, step), &host));
    auto result = runner.runtime->RunStep(FeedsFor(graph, dataset->GetBatch(step, &host)));
    if (!result.ok()) {
      progress.Finish();
      return absl::Status(result.status().code(),
                          absl::StrCat("step ", step + 1, ": ", result.status().message()));
    }
    last_loss = result->fetches.at("loss").data<float>()[0];
    announce();
    progress.Update(step + 1, last_loss);
    if (log != nullptr) {
      *log << nlohmann::json{{"step", step + 1},
                             {"loss", last_loss},
                             {"epoch", step / dataset->batches_per_epoch()},
                             {"samples_per_second", progress.samples_per_second()}}
                  .dump()
           << "\n"
           << std::flush;
    }
  }
  announce();
  progress.Finish();
  const std::vector<int64_t> peaks = job.PeakBytes();
  if (!request.trace.empty()) {
    guard.Track(request.trace);
    SBP_RETURN_IF_ERROR(runner.runtime->WriteTrace(request.trace));
  }

  nlohmann::json summary = {{"steps", total_steps}};
  if (total_steps > 0) summary["final_loss"] = last_loss;
  summary["peak_memory_bytes"] = peaks;
  std::vector<std::string> peak_text;
  for (size_t device = 0; device < peaks.size(); ++device) {
    peak_text.push_back(
        absl::StrCat(runner.compiled.plan.devices[device].ToString(), " ", MiB(peaks[device])));
  }
  *context.err << "peak memory per device: " << absl::StrJoin(peak_text, ", ") << "\n";
  if (total_steps > 0) {
    *context.out << "final loss: " << std::fixed << std::setprecision(4) << last_loss << "\n";
    if (graph.signature().logits.valid()) {
      SBP_ASSIGN_OR_RETURN(EvaluationResult evaluation,
                           Evaluate(job, options, &runner.compiled, &variables, &store));
      summary["test_loss"] = evaluation.loss;
      if (evaluation.accuracy.has_value()) {
        summary["test_accuracy"] = *evaluation.accuracy;
        *context.out << "test accuracy: " << std::setprecision(4) << *evaluation.accuracy << " ("
                     << evaluation.examples << " examples, loss " << evaluation.loss << ")\n";
      }
    }
  }
  if (!request.save.empty()) {
    SBP_RETURN_IF_ERROR(SaveCheckpoint(*variables, request.save, total_steps));
    *context.err << "saved " << request.save << "\n";
  }
  if (log != nullptr) *log << summary.dump() << "\n" << std::flush;
  guard.Release();
  return absl::OkStatus();
}

}  // namespace

void AddJobOptions(CLI::App* command, JobOptions* options) {
  command->add_option("file", options->graph_path, "Graph file (.pb or .pbtxt)")->required();
  command->add_option("--data", options->data, "fashion-mnist[:DIR], text:PATH or synthetic")
      ->required();
  command->add_option("--batch", options->batch, "Examples per step")->required();
  command->add_option("--seed", options->seed, "Seed of initial values and data order")
      ->capture_default_str();
  command->add_option("--threads", options->threads, "Kernel threads, at most 1024 (0 = all cores)")
      ->capture_default_str();
  command->add_option("--devices", options->parallel.devices, "Devices, e.g. cpu:0-3")
      ->capture_default_str();
  command->add_option("--mesh", options->parallel.mesh, "Device mesh, e.g. 2x2 (default 1-D)");
  command->add_option("--axes", options->parallel.axes,
                      "Mesh axis names, e.g. dp,tp (default: from --strategy)");
  command->add_option("--strategy", options->parallel.strategy.strategy,
                      "Layout preset: dp, tp or dp,tp");
  command
      ->add_option("--zero", options->parallel.strategy.zero, "1 = shard optimizer state over dp")
      ->capture_default_str();
  command
      ->add_option("--link-latency-us", options->link_latency_us,
                   "Emulated link latency (in-process devices)")
      ->capture_default_str();
  command
      ->add_option("--link-gbps", options->link_gbps,
                   "Emulated link bandwidth in Gbit/s (0 = unthrottled)")
      ->capture_default_str();
  command
      ->add_option("--bucket-mb", options->bucket_mb,
                   "Gradient all-reduce bucket size in MiB (0 = one collective per gradient)")
      ->capture_default_str();
  command->add_flag("--no-overlap", options->no_overlap,
                    "Start gradient collectives only after the backward pass (for comparisons)");
  command
      ->add_option("--pipeline", options->parallel.pipeline,
                   "Pipeline ranks (the devices are split into this many equal groups)")
      ->capture_default_str();
  command
      ->add_option("--micro-batches", options->parallel.micro_batches,
                   "Micro-batches per step (gradients accumulate over them)")
      ->capture_default_str();
  command->add_option("--schedule", options->schedule, "gpipe, 1f1b, interleaved or zb-h1")
      ->capture_default_str();
  command
      ->add_option("--chunks", options->chunks,
                   "Model chunks per rank for the interleaved schedule (0 = 2)")
      ->capture_default_str();
}

void AddTrainCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<TrainRequest>();
  CLI::App* train = app.add_subcommand("train", "Train a graph");
  AddJobOptions(train, &request->job);
  train->add_option("--steps", request->steps, "Steps to run");
  train->add_option("--epochs", request->epochs, "Epochs to run");
  train->add_option("--optimizer", request->optimizer, "sgd, adam or adamw")->capture_default_str();
  train->add_option("--lr", request->optimizer_options.learning_rate, "Learning rate")
      ->capture_default_str();
  train->add_option("--lr-schedule", request->lr_schedule, "constant, linear or cosine decay")
      ->capture_default_str();
  train->add_option("--warmup-steps", request->warmup_steps, "Linear warm-up steps")
      ->capture_default_str();
  train->add_option("--momentum", request->optimizer_options.momentum, "SGD momentum")
      ->capture_default_str();
  train->add_flag("--nesterov", request->optimizer_options.nesterov, "Nesterov momentum");
  train->add_option("--weight-decay", request->optimizer_options.weight_decay, "Weight decay")
      ->capture_default_str();
  train
      ->add_option("--clip-norm", request->optimizer_options.clip_norm,
                   "Clip gradients to this global norm (0 = off)")
      ->capture_default_str();
  train->add_flag("--no-shuffle", request->no_shuffle, "Batches in file order");
  train->add_option("--log-json", request->log_json, "Write one JSON object per step here");
  train->add_option("--save", request->save, "Write the final variables (safetensors)");
  train->add_option("--init-from", request->init_from, "Start from a safetensors checkpoint");
  train->add_option("--trace", request->trace, "Write a Chrome trace of the run");
  train->callback([request, action, train] {
    request->steps_given = train->count("--steps") > 0;
    request->epochs_given = train->count("--epochs") > 0;
    *action = [request](const CommandContext& context) { return Train(*request, context); };
  });
}

}  // namespace sbpflow
