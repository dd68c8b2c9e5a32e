#include "tools/job.h"

#include <cmath>
#include <ostream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "actor/pipeline_plan.h"
#include "actor/schedule.h"
#include "base/status_macros.h"
#include "graph/graph_proto.h"
#include "graph/optimizers/optimizer.h"
#include "io/checkpoint_check.h"
#include "io/data_spec.h"
#include "io/safetensors.h"

namespace sbpflow {

absl::Status CheckJobOptions(const JobOptions& options) {
  if (options.batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--batch must be >= 1, got ", options.batch));
  }
  // No tensor may hold more than 2^60 elements (graph/op_registry.h), so
  // neither may a batch; past it the error would only name a graph node.
  if (options.batch > kMaxBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch must be <= 2^60 = ", kMaxBatch, ", got ", options.batch));
  }
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 0, got ", options.threads));
  }
  // Every thread is an OS thread started up front: a typo such as 100000
  // would spend many seconds starting threads before failing or running.
  if (options.threads > kMaxRuntimeThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be <= ", kMaxRuntimeThreads, ", got ", options.threads));
  }
  // Negated comparisons, so NaN fails them too.
  if (!(options.link_latency_us >= 0) || !(options.link_gbps >= 0)) {
    return absl::InvalidArgumentError("--link-latency-us and --link-gbps must be >= 0");
  }
  if (!(options.link_latency_us <= kMaxLinkLatencyMicroseconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--link-latency-us must be <= ", kMaxLinkLatencyMicroseconds, ", got ",
                     options.link_latency_us));
  }
  if (!std::isfinite(options.link_gbps)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--link-gbps must be finite, got ", options.link_gbps));
  }
  if (!(options.bucket_mb >= 0 && options.bucket_mb <= kMaxBucketMebibytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--bucket-mb must be in [0, ", kMaxBucketMebibytes, "], got ", options.bucket_mb));
  }
  if (options.chunks < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--chunks must be >= 0, got ", options.chunks));
  }
  return absl::OkStatus();
}

absl::Status JobContext::StartDevices(const std::vector<Device>& devices,
                                      const JobOptions& options) {
  if (!devices_.empty()) return absl::OkStatus();
  devices_ = MakeDeviceContexts(devices);
  std::optional<LinkThrottle> throttle;
  if (options.link_gbps > 0) {
    throttle = LinkThrottle{options.link_latency_us * 1e-6, options.link_gbps * 1e9 / 8};
  } else if (options.link_latency_us > 0) {
    throttle = LinkThrottle{options.link_latency_us * 1e-6, 1e18};
  }
  communicator_ =
      std::make_unique<InProcessCommunicator>(static_cast<int>(devices_.size()), throttle);
  return absl::OkStatus();
}

std::vector<DeviceContext*> JobContext::devices() const {
  std::vector<DeviceContext*> devices;
  for (const auto& device : devices_) devices.push_back(device.get());
  return devices;
}

std::vector<int64_t> JobContext::PeakBytes() const {
  std::vector<int64_t> peaks;
  for (const auto& device : devices_) peaks.push_back(device->allocator()->peak_bytes());
  return peaks;
}

absl::StatusOr<Graph> LoadJobGraph(const std::string& path, const OpRegistry& ops, int64_t batch,
                                   bool need_loss) {
  SBP_ASSIGN_OR_RETURN(Graph graph, LoadGraphFile(path, ops, batch));
  const GraphSignature& signature = graph.signature();
  if (need_loss && !signature.loss.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": field 'signature.loss': the graph names no loss to train"));
  }
  if (signature.features.empty() || signature.labels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": field 'signature': the graph must name its features and labels placeholders"));
  }
  return graph;
}

namespace {

const TensorType& PlaceholderType(const Graph& graph, const std::string& name) {
  return graph.node(*graph.FindNode(name)).outputs[0];
}

absl::Status ExpectFits(const JobOptions& options, const Graph& graph, const std::string& role,
                        const std::string& placeholder, const TensorType& given) {
  const TensorType& expected = PlaceholderType(graph, placeholder);
  if (expected == given) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--data ", options.data, ": its ", role, " are ",
                                                 given.ToString(), ", placeholder '", placeholder,
                                                 "' expects ", expected.ToString()));
}

// The vocabulary of an integer input: the rows of the table of the first
// Embedding that reads it (256 when there is none).
int64_t VocabularyOf(const Graph& graph, const std::string& placeholder) {
  const int node = *graph.FindNode(placeholder);
  for (const Node& consumer : graph.nodes()) {
    if (consumer.op == "Embedding" && consumer.inputs.size() == 2 &&
        consumer.inputs[1].node == node) {
      return graph.type(consumer.inputs[0]).shape.dim(0);
    }
  }
  return 256;
}

// Checks that every id the data set yields for `placeholder` (ids in [0,
// `ids`)) indexes the tables that read it: rows of an Embedding's table,
// classes of a SoftmaxCrossEntropy's logits. An id past them would fail only
// inside a kernel, at the first step that meets it.
absl::Status ExpectIdsFit(const JobOptions& options, const Graph& graph,
                          const std::string& placeholder, absl::string_view what, int64_t ids) {
  // The ops that index a table with ids: input 1 holds the ids, input 0 the
  // table, indexed along its first axis (Embedding) or last (the classes of
  // SoftmaxCrossEntropy).
  struct Indexing {
    const char* op;
    const char* table;
    bool last_axis;
  };
  static constexpr Indexing kIndexing[] = {{"Embedding", "table", false},
                                           {"SoftmaxCrossEntropy", "logits", true}};
  const int node = *graph.FindNode(placeholder);
  for (const Node& consumer : graph.nodes()) {
    for (const Indexing& indexing : kIndexing) {
      if (consumer.op != indexing.op || consumer.inputs.size() != 2 ||
          consumer.inputs[1].node != node) {
        continue;
      }
      const Shape& shape = graph.type(consumer.inputs[0]).shape;
      if (shape.rank() == 0) continue;
      const int64_t size = shape.dim(indexing.last_axis ? shape.rank() - 1 : 0);
      if (size >= ids) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "--data ", options.data, ": its ", what, " go up to ", ids - 1, ", but ",
          options.graph_path, ": node '", consumer.name, "' (", consumer.op, "): input '",
          indexing.table, "' has ", size, indexing.last_axis ? " classes" : " rows"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataset>> OpenJobData(const JobOptions& options, const Graph& graph,
                                                     bool shuffle, bool test_split) {
  SBP_ASSIGN_OR_RETURN(DataSpec spec, ParseDataSpec(options.data));
  const std::string& features = graph.signature().features;
  const std::string& labels = graph.signature().labels;
  const TensorType& features_type = PlaceholderType(graph, features);
  const TensorType& labels_type = PlaceholderType(graph, labels);
  DatasetRequest request;
  request.batch_size = options.batch;
  request.seed = options.seed;
  request.shuffle = shuffle;
  request.split = test_split ? FashionMnistSplit::kTest : FashionMnistSplit::kTrain;
  if (spec.kind == DataSpec::Kind::kText) {
    if (features_type.shape.rank() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--data ", options.data, ": text needs a features placeholder [batch, seq], '", features,
          "' is ", features_type.ToString()));
    }
    request.sequence_length = features_type.shape.dim(1);
  }
  if (spec.kind == DataSpec::Kind::kSynthetic) {
    SyntheticOptions& synthetic = request.synthetic;
    synthetic.example_features_shape = Shape(std::vector<int64_t>(
        features_type.shape.dims().begin() + 1, features_type.shape.dims().end()));
    synthetic.features_dtype = features_type.dtype;
    synthetic.vocabulary_size = VocabularyOf(graph, features);
    synthetic.example_labels_shape = Shape(
        std::vector<int64_t>(labels_type.shape.dims().begin() + 1, labels_type.shape.dims().end()));
    synthetic.labels_dtype = labels_type.dtype;
    synthetic.num_classes = graph.signature().logits.valid()
                                ? graph.type(graph.signature().logits).shape.dims().back()
                                : VocabularyOf(graph, features);
  }
  SBP_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> dataset, OpenDataset(spec, request));
  SBP_RETURN_IF_ERROR(ExpectFits(options, graph, "features", features, dataset->features_type()));
  SBP_RETURN_IF_ERROR(ExpectFits(options, graph, "labels", labels, dataset->labels_type()));
  // Byte ids for text, ten classes for Fashion-MNIST (synthetic data is
  // drawn from the graph's own ranges).
  if (spec.kind == DataSpec::Kind::kText) {
    SBP_RETURN_IF_ERROR(ExpectIdsFit(options, graph, features, "byte ids", 256));
    SBP_RETURN_IF_ERROR(ExpectIdsFit(options, graph, labels, "next-byte labels", 256));
  } else if (spec.kind == DataSpec::Kind::kFashionMnist) {
    SBP_RETURN_IF_ERROR(ExpectIdsFit(options, graph, labels, "labels", 10));
  }
  return dataset;
}

absl::StatusOr<CompiledPlan> CompileJobPlan(const OpRegistry& ops, const SbpRuleRegistry& rules,
                                            const JobOptions& options, const Graph& forward,
                                            const OptimizerOptions* optimizer) {
  ParallelOptions parallel = options.parallel;
  // A forward-only plan (evaluation) runs each batch whole.
  if (optimizer == nullptr) parallel.micro_batches = 1;
  if (options.link_gbps > 0) parallel.link.bytes_per_second = options.link_gbps * 1e9 / 8;
  if (options.link_latency_us > 0) parallel.link.latency_seconds = options.link_latency_us * 1e-6;
  parallel.bucket_bytes = static_cast<int64_t>(options.bucket_mb * (1 << 20));
  parallel.overlap = !options.no_overlap;
  SBP_ASSIGN_OR_RETURN(ScheduleKind kind, ParseScheduleKind(options.schedule));
  parallel.chunks = options.chunks > 0                   ? options.chunks
                    : kind == ScheduleKind::kInterleaved ? 2
                                                         : 1;
  // Forwards alone (and one micro-batch) need no interleaving: GPipe's order
  // over the same chunks runs any M, where interleaved needs M a multiple of P.
  if (optimizer == nullptr) kind = ScheduleKind::kGPipe;
  const bool pipelined = parallel.pipeline > 1 || parallel.chunks > 1;
  std::optional<Schedule> schedule;
  if (pipelined) {
    // Checked before compiling so a bad (P, M, V) is reported as such.
    absl::StatusOr<Schedule> generated = GenerateSchedule(
        ScheduleRequest{kind, parallel.pipeline, parallel.micro_batches, parallel.chunks});
    // The generator names `sbpflow schedule`'s flags; P is --pipeline here.
    if (!generated.ok()) {
      return absl::InvalidArgumentError(
          absl::StrReplaceAll(generated.status().message(), {{"--stages", "--pipeline"}}));
    }
    schedule = *std::move(generated);
  }
  SBP_ASSIGN_OR_RETURN(CompiledPlan compiled,
                       optimizer != nullptr
                           ? CompileTrainingGraph(forward, ops, rules, *optimizer, parallel)
                           : CompileGraph(forward, ops, rules, parallel));
  if (schedule.has_value()) SBP_RETURN_IF_ERROR(AttachPipelineSchedule(*schedule, &compiled.plan));
  return compiled;
}

absl::StatusOr<PlanRunner> StartPlan(JobContext& context, const JobOptions& options,
                                     const Graph& forward, const OptimizerOptions* optimizer,
                                     VariableStore** variables,
                                     std::unique_ptr<VariableStore>* created) {
  PlanRunner runner;
  SBP_ASSIGN_OR_RETURN(runner.compiled,
                       CompileJobPlan(context.ops(), context.rules(), options, forward, optimizer));
  SBP_RETURN_IF_ERROR(context.StartDevices(runner.compiled.plan.devices, options));
  if (*variables == nullptr) {
    SBP_ASSIGN_OR_RETURN(
        *created, VariableStore::Create(runner.compiled.plan, options.seed, context.devices()));
    *variables = created->get();
  }
  RuntimeOptions runtime_options;
  runtime_options.threads = options.threads;
  runtime_options.trace = options.trace;
  SBP_ASSIGN_OR_RETURN(runner.runtime,
                       Runtime::Create(std::make_shared<const PhysicalPlan>(runner.compiled.plan),
                                       &context.kernels(), *variables, context.devices(),
                                       context.communicator(), runtime_options));
  return runner;
}

std::map<std::string, Tensor> FeedsFor(const Graph& graph, Batch batch) {
  std::map<std::string, Tensor> feeds;
  feeds[graph.signature().features] = std::move(batch[kFeaturesName]);
  feeds[graph.signature().labels] = std::move(batch[kLabelsName]);
  return feeds;
}

absl::Status SaveCheckpoint(const VariableStore& variables, const std::string& path,
                            int64_t steps) {
  CpuAllocator allocator;
  std::map<std::string, Tensor> tensors;
  for (const VariableSpec& spec : variables.variables()) {
    // The learning rate is the job's setting, not the model's state.
    if (spec.name == kLearningRateVariable) continue;
    SBP_ASSIGN_OR_RETURN(tensors[spec.name], variables.ReadLogical(spec.name, &allocator));
  }
  return WriteSafetensors(
      path, tensors, {{"format", "pt"}, {"producer", "sbpflow"}, {"steps", absl::StrCat(steps)}});
}

namespace {

bool IsOptimizerState(const std::string& name) {
  if (name == "optimizer.step" || name == kLearningRateVariable) return true;
  for (const char* suffix : {".momentum", ".adam_m", ".adam_v"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

}  // namespace

absl::Status LoadCheckpoint(const std::string& path, VariableStore* variables, std::ostream& log) {
  CpuAllocator allocator;
  SBP_ASSIGN_OR_RETURN(Checkpoint checkpoint, ReadSafetensors(path, &allocator));
  std::map<std::string, TensorType> expected;
  std::map<std::string, TensorType> actual;
  std::set<std::string> in_graph;
  for (const VariableSpec& spec : variables->variables()) in_graph.insert(spec.name);
  int ignored = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    if ((!in_graph.contains(name) && IsOptimizerState(name)) || name == kLearningRateVariable) {
      ++ignored;
      continue;
    }
    actual[name] = tensor.type();
  }
  for (const VariableSpec& spec : variables->variables()) {
    if (spec.name == kLearningRateVariable) continue;
    if (spec.trainable || checkpoint.tensors.contains(spec.name))
      expected[spec.name] = spec.logical;
  }
  SBP_RETURN_IF_ERROR(CheckCheckpointTypes(path, expected, actual));
  for (const auto& [name, type] : expected) {
    SBP_RETURN_IF_ERROR(variables->WriteLogical(name, checkpoint.tensors.at(name)));
  }
  if (ignored > 0) {
    log << "note: " << path << ": ignored " << ignored
        << " optimizer state tensor(s) this job's optimizer does not use\n";
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
