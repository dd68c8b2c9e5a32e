// Times sbpflow training steps: the sbpflow half of bench/compare_pytorch.sh.
//
// Builds the training graph of a graph file exactly as `sbpflow train` does
// (same optimizer, same plan, same runtime), loads initial weights from a
// checkpoint, reads `--distinct-batches` batches from the data set before
// timing (so data loading is excluded) and runs `--steps` steps, step s on
// batch s % distinct. Each step is timed around Runtime::RunStep alone, which
// includes feeding the batch, every kernel and the optimizer update, and
// fetching the loss. Prints one JSON object {"losses": [...],
// "step_seconds": [...], "step_cpu_seconds": [...], "blas_core": "..."} with
// one entry per step (wall-clock time, and CPU time of the whole process: less
// sensitive to other load on the machine) and the OpenBLAS kernels it ran.
//
// --dump-batches writes the batches (features.<i>, labels.<i>) as
// safetensors, so that the PyTorch side trains on the very same data.
//
// Usage: sbpflow_step_bench GRAPH --data SPEC --batch N --steps S
//            --optimizer sgd|adamw --lr LR [--weight-decay WD]
//            [--init-from CKPT] [--threads T] [--distinct-batches K]
//            [--dump-batches PATH] [--seed S]
#include <cblas.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "graph/ops/builtin_ops.h"
#include "graph/optimizers/optimizer.h"
#include "io/safetensors.h"
#include "kernel/cpu/cpu_kernels.h"
#include "nlohmann/json.hpp"
#include "tools/job.h"

namespace sbpflow {
namespace {

// The OpenBLAS kernels this process runs ("Haswell", "Cooperlake", ...): the
// library picks them for the CPU unless OPENBLAS_CORETYPE says otherwise.
std::string BlasCoreName() {
  const char* name = openblas_get_corename();
  return name == nullptr ? "unknown" : name;
}

struct BenchRequest {
  JobOptions job;
  int64_t steps = 20;
  int64_t distinct_batches = 8;
  std::string optimizer = "sgd";
  OptimizerOptions optimizer_options;
  std::string init_from;
  std::string dump_batches;
};

absl::Status DumpBatches(const std::string& path, const std::vector<Batch>& batches) {
  std::map<std::string, Tensor> tensors;
  for (size_t index = 0; index < batches.size(); ++index) {
    tensors[absl::StrCat("features.", index)] = batches[index].at(kFeaturesName);
    tensors[absl::StrCat("labels.", index)] = batches[index].at(kLabelsName);
  }
  return WriteSafetensors(path, tensors);
}

// CPU time of the whole process (every thread), in seconds.
double ProcessCpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

absl::Status Run(const BenchRequest& request) {
  SBP_ASSIGN_OR_RETURN(auto ops, BuildBuiltinOpRegistry());
  SBP_ASSIGN_OR_RETURN(auto kernels, BuildBuiltinKernelRegistry());
  SBP_ASSIGN_OR_RETURN(auto rules, BuildBuiltinSbpRules());
  JobContext job(&ops, &kernels, &rules);
  const JobOptions& options = request.job;
  OptimizerOptions optimizer = request.optimizer_options;
  SBP_ASSIGN_OR_RETURN(optimizer.kind, ParseOptimizerKind(request.optimizer));
  SBP_ASSIGN_OR_RETURN(Graph graph, LoadJobGraph(options.graph_path, ops, options.batch, true));
  // In file order: the batches are the same whatever the seed of the weights.
  SBP_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> dataset,
                       OpenJobData(options, graph, /*shuffle=*/false, /*test_split=*/false));

  VariableStore* variables = nullptr;
  std::unique_ptr<VariableStore> store;
  SBP_ASSIGN_OR_RETURN(PlanRunner runner,
                       StartPlan(job, options, graph, &optimizer, &variables, &store));
  if (!request.init_from.empty()) {
    SBP_RETURN_IF_ERROR(LoadCheckpoint(request.init_from, variables, std::cerr));
  }

  CpuAllocator host;
  std::vector<Batch> batches;
  for (int64_t index = 0; index < request.distinct_batches; ++index) {
    batches.push_back(dataset->GetBatch(index, &host));
  }
  if (!request.dump_batches.empty()) {
    SBP_RETURN_IF_ERROR(DumpBatches(request.dump_batches, batches));
  }
  std::vector<std::map<std::string, Tensor>> feeds;
  for (const Batch& batch : batches) feeds.push_back(FeedsFor(graph, batch));

  std::vector<double> losses;
  std::vector<double> seconds;
  std::vector<double> cpu_seconds;
  for (int64_t step = 0; step < request.steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ProcessCpuSeconds();
    auto result = runner.runtime->RunStep(feeds[step % feeds.size()]);
    if (!result.ok()) return result.status();
    const double loss = result->fetches.at("loss").data<float>()[0];
    cpu_seconds.push_back(ProcessCpuSeconds() - cpu_start);
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    losses.push_back(loss);
  }
  std::cout << nlohmann::json{{"losses", losses},
                              {"step_seconds", seconds},
                              {"step_cpu_seconds", cpu_seconds},
                              {"blas_core", BlasCoreName()}}
                   .dump()
            << "\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  sbpflow::BenchRequest request;
  request.job.threads = 1;
  CLI::App app{"Times sbpflow training steps"};
  app.add_option("graph", request.job.graph_path, "Graph file")->required();
  app.add_option("--data", request.job.data, "fashion-mnist[:DIR], text:PATH or synthetic")
      ->required();
  app.add_option("--batch", request.job.batch, "Examples per step")->required();
  app.add_option("--steps", request.steps, "Steps to run, warm-up included")
      ->check(CLI::PositiveNumber);
  app.add_option("--distinct-batches", request.distinct_batches, "Batches to cycle through")
      ->check(CLI::PositiveNumber);
  app.add_option("--optimizer", request.optimizer, "sgd or adamw");
  app.add_option("--lr", request.optimizer_options.learning_rate, "Learning rate");
  app.add_option("--weight-decay", request.optimizer_options.weight_decay, "Weight decay");
  app.add_option("--seed", request.job.seed, "Seed of the initial values");
  app.add_option("--threads", request.job.threads, "Kernel threads");
  app.add_option("--init-from", request.init_from, "Initial weights (safetensors)");
  app.add_option("--dump-batches", request.dump_batches, "Write the batches here (safetensors)");
  CLI11_PARSE(app, argc, argv);
  const absl::Status status = sbpflow::Run(request);
  if (!status.ok()) {
    std::cerr << "sbpflow_step_bench: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
