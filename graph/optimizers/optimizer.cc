#include "graph/optimizers/optimizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "graph/autodiff.h"
#include "graph/graph_builder.h"

namespace sbpflow {

absl::StatusOr<OptimizerOptions::Kind> ParseOptimizerKind(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "sgd") return OptimizerOptions::Kind::kSgd;
  if (lower == "adam") return OptimizerOptions::Kind::kAdam;
  if (lower == "adamw") return OptimizerOptions::Kind::kAdamW;
  return absl::InvalidArgumentError(
      absl::StrCat("--optimizer: unknown optimizer '", text, "' (expected sgd, adam or adamw)"));
}

absl::Status ValidateOptimizerOptions(const OptimizerOptions& options) {
  auto bad = [](absl::string_view flag, absl::string_view rule, double value) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " must be ", rule, ", got ", value));
  };
  // An infinite value would pass the range checks below and only turn the
  // variables into NaN; checked first, so the message says what is wrong.
  const std::pair<const char*, double> values[] = {{"--lr", options.learning_rate},
                                                   {"--momentum", options.momentum},
                                                   {"--weight-decay", options.weight_decay},
                                                   {"--clip-norm", options.clip_norm},
                                                   {"beta1", options.beta1},
                                                   {"beta2", options.beta2},
                                                   {"epsilon", options.epsilon}};
  for (const auto& [name, value] : values) {
    if (!std::isfinite(value)) return bad(name, "finite", value);
  }
  if (!(options.learning_rate > 0)) return bad("--lr", "> 0", options.learning_rate);
  if (!(options.momentum >= 0 && options.momentum < 1)) {
    return bad("--momentum", "in [0, 1)", options.momentum);
  }
  if (options.kind != OptimizerOptions::Kind::kSgd && options.momentum != 0) {
    return absl::InvalidArgumentError("--momentum applies to --optimizer sgd only");
  }
  if (options.nesterov && options.momentum == 0) {
    return absl::InvalidArgumentError("--nesterov needs --momentum > 0");
  }
  if (!(options.weight_decay >= 0)) return bad("--weight-decay", ">= 0", options.weight_decay);
  if (!(options.clip_norm >= 0)) return bad("--clip-norm", ">= 0", options.clip_norm);
  if (!(options.beta1 >= 0 && options.beta1 < 1)) return bad("beta1", "in [0, 1)", options.beta1);
  if (!(options.beta2 >= 0 && options.beta2 < 1)) return bad("beta2", "in [0, 1)", options.beta2);
  if (!(options.epsilon > 0)) return bad("epsilon", "> 0", options.epsilon);
  return absl::OkStatus();
}

namespace {

// A non-trainable state variable shaped like `like`.
absl::StatusOr<TensorRef> StateVariable(GraphBuilder& builder, const std::string& name,
                                        const TensorType& like) {
  SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode(name, "Variable", {},
                                                      AttrMap{{"shape", like.shape},
                                                              {"dtype", like.dtype},
                                                              {"initializer", std::string("zeros")},
                                                              {"trainable", false}}));
  return TensorRef{node, 0};
}

// Scales every gradient by min(1, clip / global_norm).
absl::Status ClipGradients(GraphBuilder& builder, double clip_norm,
                           const std::vector<int>& variables, std::vector<TensorRef>* gradients) {
  builder.set_name_prefix("optimizer/clip/");
  std::optional<TensorRef> total;
  for (size_t i = 0; i < gradients->size(); ++i) {
    const TensorRef gradient = (*gradients)[i];
    // Per-gradient work belongs with its variable (pipeline stages).
    builder.set_origin(variables[i]);
    SBP_ASSIGN_OR_RETURN(TensorRef square, builder.Add("Square", {gradient}));
    SBP_ASSIGN_OR_RETURN(TensorRef sum, builder.Add("ReduceSum", {square},
                                                    AttrMap{{"axes", std::vector<int64_t>{}},
                                                            {"keep_dims", false}}));
    builder.set_origin(-1);
    if (total.has_value()) {
      SBP_ASSIGN_OR_RETURN(total, builder.Add("Add", {*total, sum}, {}, "sum_squares"));
    } else {
      total = sum;
    }
  }
  SBP_ASSIGN_OR_RETURN(TensorRef factor,
                       builder.Add("ClipFactor", {*total}, AttrMap{{"clip_norm", clip_norm}}));
  for (size_t i = 0; i < gradients->size(); ++i) {
    builder.set_origin(variables[i]);
    SBP_ASSIGN_OR_RETURN((*gradients)[i],
                         builder.Add("Mul", {(*gradients)[i], factor}, {}, "clipped"));
  }
  builder.set_origin(-1);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TrainingGraphInfo> BuildTrainingGraph(Graph* graph, const OpRegistry& registry,
                                                     const OptimizerOptions& options) {
  SBP_RETURN_IF_ERROR(ValidateOptimizerOptions(options));
  const TensorRef loss = graph->signature().loss;
  if (!loss.valid()) {
    return absl::InvalidArgumentError("field 'signature.loss': the graph names no loss to train");
  }
  std::vector<int> candidates;
  std::vector<TensorRef> wrt;
  for (int index = 0; index < graph->num_nodes(); ++index) {
    const Node& node = graph->node(index);
    if (node.op != "Variable") continue;
    SBP_ASSIGN_OR_RETURN(bool trainable, node.attrs.GetBool("trainable"));
    if (!trainable) continue;
    candidates.push_back(index);
    wrt.push_back(TensorRef{index, 0});
  }
  SBP_ASSIGN_OR_RETURN(std::vector<std::optional<TensorRef>> grads,
                       BuildGradients(graph, registry, loss, wrt));
  TrainingGraphInfo info;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!grads[i].has_value()) continue;
    info.variables.push_back(candidates[i]);
    info.gradients.push_back(*grads[i]);
  }
  if (info.variables.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'signature.loss': no trainable variable reaches the loss '",
                     graph->RefName(loss), "'"));
  }

  GraphBuilder builder(graph, &registry);
  builder.set_role(NodeRole::kOptimizer);
  if (options.clip_norm > 0) {
    SBP_RETURN_IF_ERROR(ClipGradients(builder, options.clip_norm, info.variables, &info.gradients));
  }

  std::optional<TensorRef> step;
  const bool adam = options.kind != OptimizerOptions::Kind::kSgd;
  const DataType dtype = graph->type(info.gradients[0]).dtype;
  builder.set_name_prefix("");
  if (adam) {
    SBP_ASSIGN_OR_RETURN(step, StateVariable(builder, "optimizer.step", TensorType{dtype, {}}));
  }
  // The learning rate is a variable so that a schedule can change it between
  // steps without a new plan.
  SBP_ASSIGN_OR_RETURN(
      int lr_node,
      builder.AddNamedNode(
          std::string(kLearningRateVariable), "Variable", {},
          AttrMap{{"shape", Shape{}},
                  {"dtype", dtype},
                  {"initializer", absl::StrFormat("constant(%.17g)", options.learning_rate)},
                  {"trainable", false}}));
  const TensorRef lr{lr_node, 0};
  for (size_t i = 0; i < info.variables.size(); ++i) {
    const int variable = info.variables[i];
    const std::string name = graph->node(variable).name;
    const TensorType type = graph->node(variable).outputs[0];
    const TensorRef var{variable, 0};
    const TensorRef grad = info.gradients[i];
    builder.set_origin(variable);
    builder.set_name_prefix("");
    int update = -1;
    if (options.kind == OptimizerOptions::Kind::kSgd && options.momentum == 0) {
      builder.set_name_prefix(absl::StrCat("optimizer/", name, "/"));
      SBP_ASSIGN_OR_RETURN(
          update, builder.AddNode("SgdUpdate", {var, grad, lr},
                                  AttrMap{{"weight_decay", options.weight_decay}}, "update"));
    } else if (options.kind == OptimizerOptions::Kind::kSgd) {
      SBP_ASSIGN_OR_RETURN(TensorRef velocity,
                           StateVariable(builder, absl::StrCat(name, ".momentum"), type));
      builder.set_name_prefix(absl::StrCat("optimizer/", name, "/"));
      SBP_ASSIGN_OR_RETURN(update, builder.AddNode("MomentumUpdate", {var, grad, velocity, lr},
                                                   AttrMap{{"momentum", options.momentum},
                                                           {"nesterov", options.nesterov},
                                                           {"weight_decay", options.weight_decay}},
                                                   "update"));
    } else {
      SBP_ASSIGN_OR_RETURN(TensorRef m,
                           StateVariable(builder, absl::StrCat(name, ".adam_m"), type));
      SBP_ASSIGN_OR_RETURN(TensorRef v,
                           StateVariable(builder, absl::StrCat(name, ".adam_v"), type));
      builder.set_name_prefix(absl::StrCat("optimizer/", name, "/"));
      SBP_ASSIGN_OR_RETURN(
          update,
          builder.AddNode("AdamUpdate", {var, grad, m, v, *step, lr},
                          AttrMap{{"beta1", options.beta1},
                                  {"beta2", options.beta2},
                                  {"epsilon", options.epsilon},
                                  {"weight_decay", options.weight_decay},
                                  {"decoupled", options.kind == OptimizerOptions::Kind::kAdamW}},
                          "update"));
    }
    info.update_nodes.push_back(update);
  }
  if (adam) {
    // Runs after every AdamUpdate has read the step (it mutates the step, so
    // the runtime orders it after all other readers).
    builder.set_origin(step->node);
    builder.set_name_prefix("optimizer/");
    SBP_ASSIGN_OR_RETURN(int increment,
                         builder.AddNode("IncrementStep", {*step}, {}, "increment_step"));
    info.update_nodes.push_back(increment);
  }
  return info;
}

}  // namespace sbpflow
