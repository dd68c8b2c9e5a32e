// `sbpflow gen mlp|gpt ... -o FILE`: writes a model graph.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/graph_proto.h"
#include "graph/models/gpt.h"
#include "graph/models/mlp.h"
#include "tools/command.h"

namespace sbpflow {
namespace {

struct GenRequest {
  std::string layers = "784,256,10";
  GptOptions gpt;
  std::string output;
};

absl::Status WriteModel(const Graph& graph, const std::string& output, std::ostream& out) {
  SBP_RETURN_IF_ERROR(WriteGraphDefFile(GraphToProto(graph), output));
  out << "wrote " << output << " (" << graph.num_nodes() << " nodes)\n";
  return absl::OkStatus();
}

}  // namespace

void AddGenCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<GenRequest>();
  CLI::App* gen = app.add_subcommand("gen", "Write a model graph (.pb, or .pbtxt by name)");
  gen->require_subcommand(1);

  CLI::App* mlp = gen->add_subcommand("mlp", "Multi-layer perceptron classifier");
  mlp->add_option("--layers", request->layers, "Layer sizes, input first: 784,256,10")
      ->capture_default_str();
  mlp->add_option("-o,--output", request->output, "Output file")->required();
  mlp->callback([request, action] {
    *action = [request](const CommandContext& context) -> absl::Status {
      SBP_ASSIGN_OR_RETURN(std::vector<int64_t> layers, ParseIntList("--layers", request->layers));
      SBP_ASSIGN_OR_RETURN(Graph graph, BuildMlp(*context.ops, MlpOptions{layers}));
      return WriteModel(graph, request->output, *context.out);
    };
  });

  CLI::App* gpt = gen->add_subcommand("gpt", "Decoder-only byte-level transformer");
  gpt->add_option("--layers", request->gpt.layers, "Transformer blocks")->capture_default_str();
  gpt->add_option("--hidden", request->gpt.hidden, "Hidden size")->capture_default_str();
  gpt->add_option("--heads", request->gpt.heads, "Attention heads")->capture_default_str();
  gpt->add_option("--seq", request->gpt.seq, "Sequence length")->capture_default_str();
  gpt->add_option("--vocab", request->gpt.vocab, "Vocabulary size")->capture_default_str();
  gpt->add_option("-o,--output", request->output, "Output file")->required();
  gpt->callback([request, action] {
    *action = [request](const CommandContext& context) -> absl::Status {
      SBP_ASSIGN_OR_RETURN(Graph graph, BuildGpt(*context.ops, request->gpt));
      return WriteModel(graph, request->output, *context.out);
    };
  });
}

}  // namespace sbpflow
