#include "tools/evaluation.h"

#include "base/status_macros.h"
#include "io/data_spec.h"
#include "io/fashion_mnist.h"

namespace sbpflow {
namespace {

// Correct predictions: argmax over the last axis of `logits` equals `labels`.
int64_t CountCorrect(const Tensor& logits, const Tensor& labels) {
  const int64_t classes = logits.shape().dims().back();
  const int64_t rows = classes > 0 ? logits.num_elements() / classes : 0;
  const float* values = logits.data<float>();
  const int32_t* truth = labels.data<int32_t>();
  int64_t correct = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const float* scores = values + row * classes;
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k) {
      if (scores[k] > scores[best]) best = k;
    }
    correct += best == truth[row];
  }
  return correct;
}

// A runner for the forward graph at one batch size.
class BatchRunner {
 public:
  BatchRunner(JobContext& context, const JobOptions& options, const CompiledPlan* training,
              VariableStore** variables, std::unique_ptr<VariableStore>* created)
      : context_(context),
        options_(options),
        training_(training),
        variables_(variables),
        created_(created) {}

  // Loss (summed over the batch's labels) and correct predictions.
  absl::StatusOr<std::pair<double, int64_t>> Run(int64_t batch_size, Batch batch) {
    if (batch_size != batch_size_) {
      JobOptions options = options_;
      options.batch = batch_size;
      options.trace = false;
      SBP_ASSIGN_OR_RETURN(graph_, LoadJobGraph(options.graph_path, context_.ops(), batch_size,
                                                /*need_loss=*/true));
      Graph pinned = graph_;
      if (training_ != nullptr) PinVariableLayouts(*training_, &pinned);
      SBP_ASSIGN_OR_RETURN(runner_, StartPlan(context_, options, pinned, nullptr, variables_, created_));
      batch_size_ = batch_size;
    }
    const Tensor labels = batch[kLabelsName];
    SBP_ASSIGN_OR_RETURN(StepResult result, runner_.runtime->RunStep(FeedsFor(graph_, batch)));
    const double loss = static_cast<double>(result.fetches.at("loss").data<float>()[0]) *
                        static_cast<double>(labels.num_elements());
    int64_t correct = 0;
    if (result.fetches.contains("logits")) correct = CountCorrect(result.fetches.at("logits"), labels);
    return std::make_pair(loss, correct);
  }

  bool has_logits() const { return graph_.signature().logits.valid(); }

 private:
  JobContext& context_;
  const JobOptions& options_;
  const CompiledPlan* training_;
  VariableStore** variables_;
  std::unique_ptr<VariableStore>* created_;
  int64_t batch_size_ = -1;
  Graph graph_;
  PlanRunner runner_;
};

}  // namespace

absl::StatusOr<EvaluationResult> Evaluate(JobContext& context, const JobOptions& options,
                                          const CompiledPlan* training, VariableStore** variables,
                                          std::unique_ptr<VariableStore>* created,
                                          int64_t batches) {
  SBP_ASSIGN_OR_RETURN(DataSpec spec, ParseDataSpec(options.data));
  BatchRunner runner(context, options, training, variables, created);
  EvaluationResult result;
  double loss_sum = 0;
  int64_t correct = 0;
  // One per label: an example of a classifier, a position of a sequence
  // model. Loss and accuracy are means over these, not over examples.
  int64_t predictions = 0;
  CpuAllocator allocator;
  if (spec.kind == DataSpec::Kind::kFashionMnist) {
    SBP_ASSIGN_OR_RETURN(FashionMnistData data,
                         FashionMnistData::Load(spec.path, FashionMnistSplit::kTest));
    const int64_t count = data.NumEvaluationBatches(options.batch);
    for (int64_t index = 0; index < count; ++index) {
      Batch batch = data.EvaluationBatch(index, options.batch, &allocator);
      const int64_t size = batch[kLabelsName].shape().dim(0);
      SBP_ASSIGN_OR_RETURN(auto outcome, runner.Run(size, std::move(batch)));
      loss_sum += outcome.first;
      correct += outcome.second;
      result.examples += size;
      predictions += size;
    }
  } else {
    SBP_ASSIGN_OR_RETURN(Graph graph,
                         LoadJobGraph(options.graph_path, context.ops(), options.batch, true));
    SBP_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> dataset,
                         OpenJobData(options, graph, /*shuffle=*/false, /*test_split=*/true));
    for (int64_t index = 0; index < batches; ++index) {
      // Batches far past the training steps, so they were not trained on
      // (for endless streams) and are the same for every run.
      Batch batch = dataset->GetBatch(1'000'000 + index, &allocator);
      SBP_ASSIGN_OR_RETURN(auto outcome, runner.Run(options.batch, std::move(batch)));
      loss_sum += outcome.first;
      correct += outcome.second;
      result.examples += dataset->labels_type().shape.dim(0);
      predictions += dataset->labels_type().shape.NumElements();
    }
  }
  if (predictions > 0) {
    result.loss = loss_sum / static_cast<double>(predictions);
    if (runner.has_logits()) {
      result.accuracy = static_cast<double>(correct) / static_cast<double>(predictions);
    }
  }
  return result;
}

}  // namespace sbpflow
