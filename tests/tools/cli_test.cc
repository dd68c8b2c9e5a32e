// Runs the real `sbpflow` binary (SBPFLOW_BINARY, from CMake) in a fresh
// folder and checks what a user sees: exit code, stdout, stderr and the files
// left behind.
//
// Bad input must fail cleanly: exit code 2, one line on stderr that names the
// file, node or flag at fault, nothing on stdout, and no file written.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "io/safetensors.h"
#include "kernel/allocator.h"
#include "nlohmann/json.hpp"

#ifndef SBPFLOW_BINARY
#error "SBPFLOW_BINARY must name the sbpflow executable"
#endif

namespace sbpflow {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The linear graph of docs/graph-format.md; its signature names the features
// and labels, and the loss when `with_loss` (the logits otherwise).
std::string LinearGraph(bool with_loss) {
  return absl::StrCat(
      R"pb(
        name: "linear"
        version: 1
        nodes {
          name: "x"
          op: "Placeholder"
          attrs {
            key: "shape"
            value { shape { dims: -1 dims: 4 } }
          }
        }
        nodes {
          name: "y"
          op: "Placeholder"
          attrs {
            key: "shape"
            value { shape { dims: -1 } }
          }
          attrs {
            key: "dtype"
            value { type: DT_INT32 }
          }
        }
        nodes {
          name: "w"
          op: "Variable"
          attrs {
            key: "shape"
            value { shape { dims: 4 dims: 3 } }
          }
          attrs {
            key: "initializer"
            value { s: "xavier_uniform" }
          }
        }
        nodes { name: "logits" op: "MatMul" inputs: "x" inputs: "w" }
        nodes { name: "loss" op: "SoftmaxCrossEntropy" inputs: "logits" inputs: "y" }
      )pb",
      with_loss ? R"pb(signature { loss: "loss" features: "x" labels: "y" })pb"
                : R"pb(signature { features: "x" labels: "y" logits: "logits" })pb",
      "\n");
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sbpflow_cli_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    work_ = root_ / "work";
    fs::create_directory(work_);
    fs::create_directory(root_ / "capture");
  }

  void TearDown() override { fs::remove_all(root_); }

  // A path in the working folder (commands run there, so messages show the
  // relative names).
  std::string Path(const std::string& name) const { return (work_ / name).string(); }

  void Write(const std::string& name, const std::string& contents) const {
    std::ofstream out(work_ / name, std::ios::binary);
    out << contents;
  }

  std::string Read(const std::string& name) const { return ReadWhole(work_ / name); }

  std::set<std::string> Listing() const {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(work_)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  }

  // Runs `sbpflow args...` in the working folder.
  CommandResult Sbpflow(const std::vector<std::string>& args) const {
    const fs::path out_path = root_ / "capture" / "stdout";
    const fs::path err_path = root_ / "capture" / "stderr";
    std::vector<char*> argv;
    std::string program = SBPFLOW_BINARY;
    argv.push_back(program.data());
    std::vector<std::string> copies = args;
    for (std::string& arg : copies) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t child = fork();
    if (child == 0) {
      // Only async-signal-safe calls until exec.
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0 || chdir(work_.c_str()) != 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
        _exit(127);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    CommandResult result;
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadWhole(out_path);
    result.err = ReadWhole(err_path);
    return result;
  }

  // Runs a command that must succeed; returns its stdout.
  std::string Succeed(const std::vector<std::string>& args) const {
    CommandResult result = Sbpflow(args);
    EXPECT_EQ(result.exit_code, 0) << "sbpflow " << absl::StrJoin(args, " ") << "\n" << result.err;
    return result.out;
  }

  // The clean failure of bad input: exit code 2, `message` as the only line
  // on stderr, nothing on stdout, and the working folder as it was (no
  // output file, not even a partial or temporary one).
  void ExpectBadInput(const std::vector<std::string>& args, const std::string& message) const {
    SCOPED_TRACE(absl::StrCat("sbpflow ", absl::StrJoin(args, " ")));
    const std::set<std::string> before = Listing();
    CommandResult result = Sbpflow(args);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.err, message + "\n");
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(Listing(), before);
  }

  // `sbpflow gen mlp --layers LAYERS -o NAME`; most cases use small layers so
  // that synthetic data runs them in milliseconds.
  void GenMlp(const std::string& name, const std::string& layers) const {
    Succeed({"gen", "mlp", "--layers", layers, "-o", name});
  }

  // train FILE --data synthetic --batch 4 --steps 1 plus `extra`, writing a
  // log and a checkpoint when it succeeds (so a failure can show it wrote
  // neither) unless `extra` names other ones.
  static std::vector<std::string> Train(const std::string& file,
                                        const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"train",   file, "--data",  "synthetic",
                                     "--batch", "4",  "--steps", "1"};
    for (const char* flag : {"--log-json", "--save"}) {
      if (std::find(extra.begin(), extra.end(), flag) == extra.end()) {
        args.push_back(flag);
        args.push_back(flag == std::string("--save") ? "out.safetensors" : "log.json");
      }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  fs::path root_;
  fs::path work_;
};

// ---------------------------------------------------------------------------
// Bad input, command line.

TEST_F(CliTest, UnknownCommand) {
  ExpectBadInput({"trian", "m.pbtxt"},
                 "sbpflow: unknown command 'trian' (expected gen, inspect, train, eval, boxing, "
                 "compile or schedule) (see sbpflow --help)");
}

TEST_F(CliTest, UnknownModelToGenerate) {
  ExpectBadInput({"gen", "cnn", "-o", "m.pbtxt"},
                 "sbpflow gen: unknown command 'cnn' (expected mlp or gpt) (see sbpflow gen "
                 "--help)");
}

TEST_F(CliTest, FlagBeforeCommand) {
  ExpectBadInput({"--verbose"},
                 "sbpflow: unknown flag '--verbose' (expected a command: gen, inspect, train, "
                 "eval, boxing, compile or schedule) (see sbpflow --help)");
}

TEST_F(CliTest, UnknownFlag) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--learning-rate", "0.1"}),
                 "sbpflow train: The following arguments were not expected: 0.1 --learning-rate "
                 "(see sbpflow train --help)");
}

TEST_F(CliTest, MissingRequiredFlag) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--batch", "4", "--steps", "1"},
                 "sbpflow train: --data is required (see sbpflow train --help)");
}

TEST_F(CliTest, GenWithoutOutput) {
  ExpectBadInput({"gen", "mlp", "--layers", "8,4"},
                 "sbpflow gen: --output is required (see sbpflow gen --help)");
}

TEST_F(CliTest, EvalWithoutCheckpoint) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"eval", "m.pbtxt", "--data", "synthetic", "--batch", "4"},
                 "sbpflow eval: --init-from is required (see sbpflow eval --help)");
}

TEST_F(CliTest, NonNumericValue) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "four", "--steps", "1"},
                 "sbpflow train: Could not convert: --batch = four (see sbpflow train --help)");
}

TEST_F(CliTest, BatchZero) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "0", "--steps", "1",
                  "--save", "out.safetensors"},
                 "sbpflow: --batch must be >= 1, got 0");
}

TEST_F(CliTest, EvalBatchZero) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(
      {"eval", "m.pbtxt", "--data", "synthetic", "--batch", "0", "--init-from", "c.safetensors"},
      "sbpflow: --batch must be >= 1, got 0");
}

TEST_F(CliTest, BothStepsAndEpochs) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--epochs", "1"}),
                 "sbpflow: give exactly one of --steps and --epochs");
}

TEST_F(CliTest, NeitherStepsNorEpochs) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4"},
                 "sbpflow: give exactly one of --steps and --epochs");
}

TEST_F(CliTest, NegativeSteps) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "-3"},
                 "sbpflow: --steps must be >= 0, got -3");
}

TEST_F(CliTest, ZeroEpochs) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--epochs", "0"},
                 "sbpflow: --epochs must be >= 1, got 0");
}

TEST_F(CliTest, UnknownOptimizer) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--optimizer", "rmsprop"}),
                 "sbpflow: --optimizer: unknown optimizer 'rmsprop' (expected sgd, adam or adamw)");
}

TEST_F(CliTest, NegativeLearningRate) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--lr", "-1"}), "sbpflow: --lr must be > 0, got -1");
}

TEST_F(CliTest, MomentumOutOfRange) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--momentum", "1.5"}),
                 "sbpflow: --momentum must be in [0, 1), got 1.5");
}

TEST_F(CliTest, UnknownLearningRateSchedule) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(
      Train("m.pbtxt", {"--lr-schedule", "wavy"}),
      "sbpflow: --lr-schedule: unknown schedule 'wavy' (expected constant, linear or cosine)");
}

TEST_F(CliTest, NegativeThreads) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--threads", "-1"}), "sbpflow: --threads must be >= 0, got -1");
}

// Every thread is started up front; 100000 would take many seconds.
TEST_F(CliTest, ThreadsAboveTheCap) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--threads", "100000"}),
                 "sbpflow: --threads must be <= 1024, got 100000");
  ExpectBadInput(Train("m.pbtxt", {"--threads", "5000000000"}),
                 "sbpflow train: Could not convert: --threads = 5000000000 (see sbpflow train "
                 "--help)");
  ExpectBadInput({"eval", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--threads", "1025",
                  "--init-from", "c.safetensors"},
                 "sbpflow: --threads must be <= 1024, got 1025");
}

// CLI11 alone would take inf and nan, which the optimizer turns into NaN
// variables (or names its internal 'optimizer.lr').
TEST_F(CliTest, NonFiniteNumbers) {
  GenMlp("m.pbtxt", "8,4");
  const std::pair<const char*, const char*> cases[] = {
      {"--lr", "inf"},          {"--weight-decay", "inf"}, {"--clip-norm", "nan"},
      {"--momentum", "-inf"},   {"--link-gbps", "inf"},    {"--link-latency-us", "nan"},
      {"--bucket-mb", "1e999"},
  };
  for (const auto& [flag, value] : cases) {
    ExpectBadInput(Train("m.pbtxt", {flag, value}),
                   absl::StrCat("sbpflow train: ", flag, ": ", value,
                                " is not a finite number (see sbpflow train --help)"));
  }
  ExpectBadInput({"schedule", "--kind", "gpipe", "--stages", "2", "--micro-batches", "2",
                  "--forward-cost", "nan"},
                 "sbpflow schedule: --forward-cost: nan is not a finite number (see sbpflow "
                 "schedule --help)");
}

TEST_F(CliTest, NumbersOutOfRange) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--weight-decay", "-0.5"}),
                 "sbpflow: --weight-decay must be >= 0, got -0.5");
  ExpectBadInput(Train("m.pbtxt", {"--clip-norm", "-1"}),
                 "sbpflow: --clip-norm must be >= 0, got -1");
  ExpectBadInput(Train("m.pbtxt", {"--link-gbps", "-1"}),
                 "sbpflow: --link-latency-us and --link-gbps must be >= 0");
  ExpectBadInput(Train("m.pbtxt", {"--link-latency-us", "2000000"}),
                 "sbpflow: --link-latency-us must be <= 1000000, got 2e+06");
  ExpectBadInput(Train("m.pbtxt", {"--bucket-mb", "-1"}),
                 "sbpflow: --bucket-mb must be in [0, 1048576], got -1");
  ExpectBadInput(Train("m.pbtxt", {"--bucket-mb", "1e300"}),
                 "sbpflow: --bucket-mb must be in [0, 1048576], got 1e+300");
  ExpectBadInput(Train("m.pbtxt", {"--chunks", "-1"}), "sbpflow: --chunks must be >= 0, got -1");
  // Beyond the most elements of a tensor the error would name a graph node.
  ExpectBadInput(
      {"train", "m.pbtxt", "--data", "synthetic", "--batch", "4611686018427387904", "--steps", "1"},
      "sbpflow: --batch must be <= 2^60 = 1152921504606846976, got 4611686018427387904");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--epochs",
                  "9223372036854775807"},
                 "sbpflow: --epochs must be <= 92233720368547758 for --data synthetic (100 batches "
                 "per epoch), got 9223372036854775807");
}

// An unsigned flag would wrap -1 to 2^64-1.
TEST_F(CliTest, NegativeSeed) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--seed", "-1"}),
                 "sbpflow train: --seed: -1 is out of range [0, 18446744073709551615] (see "
                 "sbpflow train --help)");
  ExpectBadInput(Train("m.pbtxt", {"--seed", "18446744073709551616"}),
                 "sbpflow train: --seed: 18446744073709551616 is out of range [0, "
                 "18446744073709551615] (see sbpflow train --help)");
}

// An integer past its type would be clamped to the type's limit and then
// blamed on a graph node.
TEST_F(CliTest, IntegerOutOfItsType) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "99999999999999999999",
                  "--steps", "1"},
                 "sbpflow train: --batch: 99999999999999999999 is out of range "
                 "[-9223372036854775808, 9223372036854775807] (see sbpflow train --help)");
  ExpectBadInput({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps",
                  "-99999999999999999999"},
                 "sbpflow train: --steps: -99999999999999999999 is out of range "
                 "[-9223372036854775808, 9223372036854775807] (see sbpflow train --help)");
  ExpectBadInput({"inspect", "m.pbtxt", "--batch", "99999999999999999999"},
                 "sbpflow inspect: --batch: 99999999999999999999 is out of range "
                 "[-9223372036854775808, 9223372036854775807] (see sbpflow inspect --help)");
}

// Integers are decimal: CLI11 alone reads a leading 0 as octal.
TEST_F(CliTest, LeadingZeroIsDecimal) {
  GenMlp("m.pbtxt", "8,6,4");
  Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "0", "--seed",
           "010", "--save", "a.safetensors"});
  Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "0", "--seed",
           "10", "--save", "b.safetensors"});
  EXPECT_EQ(Read("a.safetensors"), Read("b.safetensors"));
}

TEST_F(CliTest, MeshNotMatchingDevices) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--devices", "cpu:0-2", "--mesh", "2x2"}),
                 "sbpflow: --mesh: mesh 2x2 has 4 positions, got 3 devices");
}

TEST_F(CliTest, UnknownStrategy) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--strategy", "pp"}),
                 "sbpflow: --strategy: unknown component 'pp' (expected dp, tp or dp,tp)");
}

TEST_F(CliTest, MalformedDevices) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--devices", "cpu:x"}),
                 "sbpflow: --devices: device list 'cpu:x': 'cpu:x' has a malformed index");
}

// Typos that would mean hours of planning fail at once.
TEST_F(CliTest, HugeDeviceListsAndShapes) {
  ExpectBadInput({"boxing", "--shape", "6,4", "--devices", "cpu:0-100000", "--from", "S(0)",
                  "--to", "B"},
                 "sbpflow: --devices: device list 'cpu:0-100000': names more than 4096 devices");
  ExpectBadInput({"boxing", "--shape", "4611686018427387904,4", "--devices", "cpu:0-1", "--from",
                  "S(0)", "--to", "B"},
                 "sbpflow: --shape 4611686018427387904,4 has more than 2^60 elements");
}

TEST_F(CliTest, EmptyDeviceRange) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(Train("m.pbtxt", {"--devices", "cpu:3-1"}),
                 "sbpflow: --devices: device list 'cpu:3-1': 'cpu:3-1' is an empty range");
}

// ---------------------------------------------------------------------------
// Bad input, data.

TEST_F(CliTest, UnknownDataSet) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput(
      {"train", "m.pbtxt", "--data", "mnist", "--batch", "4", "--steps", "1"},
      "sbpflow: --data: unknown data set 'mnist' (expected fashion-mnist, text:PATH or synthetic)");
}

TEST_F(CliTest, MissingDataFolder) {
  GenMlp("m.pbtxt", "784,4");
  ExpectBadInput({"train", "m.pbtxt", "--data", "fashion-mnist:no-such-folder", "--batch", "4",
                  "--steps", "1", "--save", "out.safetensors"},
                 "sbpflow: no-such-folder/train-images-idx3-ubyte.gz: cannot open: No such file or "
                 "directory");
}

TEST_F(CliTest, MissingTextFile) {
  Succeed({"gen", "gpt", "--layers", "1", "--hidden", "8", "--heads", "2", "--seq", "16", "-o",
           "g.pbtxt"});
  ExpectBadInput({"train", "g.pbtxt", "--data", "text:missing.txt", "--batch", "4", "--steps", "1"},
                 "sbpflow: missing.txt: cannot open: No such file or directory");
}

TEST_F(CliTest, TextShorterThanOneWindow) {
  Succeed({"gen", "gpt", "--layers", "1", "--hidden", "8", "--heads", "2", "--seq", "16", "-o",
           "g.pbtxt"});
  Write("short.txt", "sixteen bytes!!!");
  ExpectBadInput({"train", "g.pbtxt", "--data", "text:short.txt", "--batch", "4", "--steps", "1",
                  "--log-json", "log.json"},
                 "sbpflow: short.txt: 16 bytes, too short for one window of sequence length 16 "
                 "plus 1 byte");
}

TEST_F(CliTest, FeaturesNotMatchingDataSet) {
  GenMlp("m.pbtxt", "100,10");
  ExpectBadInput({"train", "m.pbtxt", "--data", "fashion-mnist", "--batch", "4", "--steps", "1",
                  "--save", "out.safetensors"},
                 "sbpflow: --data fashion-mnist: its features are f32[4,784], placeholder "
                 "'features' expects f32[4,100]");
}

// Text yields byte ids 0..255: a table of 10 rows would fail only inside the
// Embedding kernel at the first step.
TEST_F(CliTest, TextDataPastTheVocabulary) {
  Succeed({"gen", "gpt", "--layers", "1", "--hidden", "8", "--heads", "2", "--seq", "16", "--vocab",
           "10", "-o", "g.pbtxt"});
  Write("t.txt", std::string(200, 'z'));
  ExpectBadInput({"train", "g.pbtxt", "--data", "text:t.txt", "--batch", "4", "--steps", "1",
                  "--save", "out.safetensors"},
                 "sbpflow: --data text:t.txt: its byte ids go up to 255, but g.pbtxt: node "
                 "'embed/tokens' (Embedding): input 'table' has 10 rows");
}

TEST_F(CliTest, FashionMnistLabelsPastTheClasses) {
  GenMlp("m.pbtxt", "784,5");
  ExpectBadInput({"train", "m.pbtxt", "--data", "fashion-mnist", "--batch", "4", "--steps", "1",
                  "--save", "out.safetensors"},
                 "sbpflow: --data fashion-mnist: its labels go up to 9, but m.pbtxt: node 'loss' "
                 "(SoftmaxCrossEntropy): input 'logits' has 5 classes");
}

// An error found only when a step runs is still the one line on stderr: the
// run's description is printed once the first step has run. (The table is
// read through an Identity, which the check before training does not follow.)
TEST_F(CliTest, StepErrorIsTheOnlyLine) {
  Write("e.pbtxt", R"pb(
    nodes {
      name: "x"
      op: "Placeholder"
      attrs {
        key: "shape"
        value { shape { dims: -1 dims: 4 } }
      }
      attrs {
        key: "dtype"
        value { type: DT_INT32 }
      }
    }
    nodes {
      name: "y"
      op: "Placeholder"
      attrs {
        key: "shape"
        value { shape { dims: -1 dims: 4 } }
      }
      attrs {
        key: "dtype"
        value { type: DT_INT32 }
      }
    }
    nodes {
      name: "table"
      op: "Variable"
      attrs {
        key: "shape"
        value { shape { dims: 10 dims: 256 } }
      }
    }
    nodes { name: "ids" op: "Identity" inputs: "x" }
    nodes { name: "logits" op: "Embedding" inputs: "table" inputs: "ids" }
    nodes { name: "loss" op: "SoftmaxCrossEntropy" inputs: "logits" inputs: "y" }
    signature { loss: "loss" features: "x" labels: "y" }
  )pb");
  Write("t.txt", std::string(200, 'z'));
  ExpectBadInput({"train", "e.pbtxt", "--data", "text:t.txt", "--batch", "4", "--steps", "1",
                  "--save", "out.safetensors", "--log-json", "log.json"},
                 "sbpflow: step 1: op 'logits': id 122 at index 0 is outside [0, 10)");
}

// ---------------------------------------------------------------------------
// Bad input, graph files.

TEST_F(CliTest, MissingGraphFile) {
  ExpectBadInput({"inspect", "nothing.pb"},
                 "sbpflow: nothing.pb: cannot open: No such file or directory");
}

TEST_F(CliTest, MalformedTextGraph) {
  Write("bad.pbtxt", "nodes { name: \"x\" op: \"Placeholder\"\n  attrs { key: \"shape\" }}}\n");
  ExpectBadInput(Train("bad.pbtxt"),
                 "sbpflow: bad.pbtxt: not a valid text GraphDef: line 2:26: Expected identifier, "
                 "got: }");
}

TEST_F(CliTest, MalformedBinaryGraph) {
  Write("bad.pb", std::string("\x0a\xff\xff\xff\x0f\x01\x02", 7));
  ExpectBadInput({"inspect", "bad.pb"}, "sbpflow: bad.pb: not a valid binary GraphDef");
}

// protobuf's own complaint about the bad string must not reach stderr.
TEST_F(CliTest, BinaryGraphWithInvalidUtf8) {
  // GraphDef { nodes { name: "\xff" } }
  Write("bad.pb", std::string("\x1a\x03\x0a\x01\xff", 5));
  ExpectBadInput({"inspect", "bad.pb"}, "sbpflow: bad.pb: not a valid binary GraphDef");
}

TEST_F(CliTest, GraphInputNamingNoNode) {
  std::string graph = LinearGraph(true);
  graph.replace(graph.find("inputs: \"w\""), 11, "inputs: \"w:1\"");
  Write("m.pbtxt", graph);
  ExpectBadInput(Train("m.pbtxt"),
                 "sbpflow: m.pbtxt: node 'logits' (MatMul): input 'w:1': node 'w' has 1 "
                 "output(s)");
}

// Shapes whose element count would overflow are rejected at load, so no
// later pass multiplies its way past int64 (found by the loader fuzzer).
TEST_F(CliTest, GraphShapeAttrTooLarge) {
  Write("m.pbtxt", R"pb(
    nodes {
      name: "x"
      op: "Placeholder"
      attrs {
        key: "shape"
        value { shape { dims: 3 dims: 4 } }
      }
    }
    nodes {
      name: "r"
      op: "Reshape"
      inputs: "x"
      attrs {
        key: "shape"
        value { shape { dims: -1 dims: 4611686018427387904 dims: 4 } }
      }
    }
  )pb");
  ExpectBadInput({"inspect", "m.pbtxt"},
                 "sbpflow: m.pbtxt: node 'r' (Reshape): attr 'shape': [?,4611686018427387904,4] "
                 "has more than 2^60 elements");
}

TEST_F(CliTest, GraphOutputTooLarge) {
  Write("m.pbtxt", R"pb(
    nodes {
      name: "a"
      op: "Variable"
      attrs {
        key: "shape"
        value { shape { dims: 1099511627776 dims: 4 } }
      }
    }
    nodes {
      name: "b"
      op: "Variable"
      attrs {
        key: "shape"
        value { shape { dims: 4 dims: 1099511627776 } }
      }
    }
    nodes { name: "c" op: "MatMul" inputs: "a" inputs: "b" }
  )pb");
  ExpectBadInput({"inspect", "m.pbtxt"},
                 "sbpflow: m.pbtxt: node 'c' (MatMul): output 0 would be "
                 "f32[1099511627776,1099511627776], more than 2^60 elements");
}

TEST_F(CliTest, GraphWithoutLossCannotTrain) {
  Write("m.pbtxt", LinearGraph(false));
  ExpectBadInput(Train("m.pbtxt"),
                 "sbpflow: m.pbtxt: field 'signature.loss': the graph names no loss to train");
}

TEST_F(CliTest, InspectJsonAndDotTogether) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"inspect", "m.pbtxt", "--json", "--dot"},
                 "sbpflow: inspect: --json and --dot exclude each other");
}

TEST_F(CliTest, InspectBatchZero) {
  GenMlp("m.pbtxt", "8,4");
  ExpectBadInput({"inspect", "m.pbtxt", "--batch", "0"}, "sbpflow: --batch must be >= 1, got 0");
}

TEST_F(CliTest, GenLayersNotIntegers) {
  ExpectBadInput({"gen", "mlp", "--layers", "784,x", "-o", "m.pb"},
                 "sbpflow: --layers: 'x' in '784,x' is not an integer");
}

TEST_F(CliTest, GenLayersTooFew) {
  ExpectBadInput({"gen", "mlp", "--layers", "784", "-o", "m.pb"},
                 "sbpflow: --layers needs at least an input and an output size, got '784'");
}

TEST_F(CliTest, GenLayerOfSizeZero) {
  ExpectBadInput({"gen", "mlp", "--layers", "784,0,10", "-o", "m.pb"},
                 "sbpflow: --layers: every size must be >= 1, got 0");
}

TEST_F(CliTest, GenHeadsNotDividingHidden) {
  ExpectBadInput({"gen", "gpt", "--hidden", "10", "--heads", "3", "-o", "g.pb"},
                 "sbpflow: --hidden 10 is not divisible by --heads 3");
}

TEST_F(CliTest, GenIntoMissingFolder) {
  ExpectBadInput({"gen", "mlp", "-o", "no-such-folder/m.pb"},
                 "sbpflow: no-such-folder/m.pb: cannot create a temporary file in no-such-folder: "
                 "No such file or directory");
}

// ---------------------------------------------------------------------------
// Bad input, checkpoints and outputs.

class CheckpointCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    GenMlp("m.pbtxt", "8,6,4");
    Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "0", "--save",
             "m.safetensors"});
  }
};

TEST_F(CheckpointCliTest, CheckpointMissing) {
  ExpectBadInput(Train("m.pbtxt", {"--init-from", "none.safetensors"}),
                 "sbpflow: none.safetensors: cannot open: No such file or directory");
}

TEST_F(CheckpointCliTest, CheckpointIsAFolder) {
  ExpectBadInput(Train("m.pbtxt", {"--init-from", "."}), "sbpflow: .: not a regular file");
}

TEST_F(CheckpointCliTest, CheckpointHeaderNotJson) {
  Write("bad.safetensors", std::string("\x0b\0\0\0\0\0\0\0{not json!}", 19));
  ExpectBadInput(Train("m.pbtxt", {"--init-from", "bad.safetensors"}),
                 "sbpflow: bad.safetensors: header is not valid JSON (error at header byte 3)");
}

TEST_F(CheckpointCliTest, CheckpointTruncated) {
  const std::string whole = Read("m.safetensors");
  Write("cut.safetensors", whole.substr(0, whole.size() - 4));
  ExpectBadInput(Train("m.pbtxt", {"--init-from", "cut.safetensors"}),
                 "sbpflow: cut.safetensors: tensor 'layer1.weight': data_offsets [232,328] run "
                 "past the end of the data (324 bytes)");
}

TEST_F(CheckpointCliTest, EvalOfCorruptCheckpoint) {
  Write("bad.safetensors", std::string("\x0b\0\0\0\0\0\0\0{not json!}", 19));
  ExpectBadInput(
      {"eval", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--init-from", "bad.safetensors"},
      "sbpflow: bad.safetensors: header is not valid JSON (error at header byte 3)");
}

TEST_F(CheckpointCliTest, CheckpointShapeMismatch) {
  GenMlp("wide.pbtxt", "8,7,4");
  ExpectBadInput(Train("wide.pbtxt", {"--init-from", "m.safetensors"}),
                 "sbpflow: m.safetensors: tensor 'layer0.bias' has shape [6], the graph expects "
                 "[7]; m.safetensors: tensor 'layer0.weight' has shape [8,6], the graph expects "
                 "[8,7]; m.safetensors: tensor 'layer1.weight' has shape [6,4], the graph expects "
                 "[7,4]");
}

TEST_F(CheckpointCliTest, CheckpointMissingTensor) {
  GenMlp("deep.pbtxt", "8,6,4,4");
  ExpectBadInput(Train("deep.pbtxt", {"--init-from", "m.safetensors"}),
                 "sbpflow: m.safetensors: tensor 'layer2.bias' is missing, the graph expects "
                 "f32[4]; m.safetensors: tensor 'layer2.weight' is missing, the graph expects "
                 "f32[4,4]");
}

TEST_F(CheckpointCliTest, UnwritableSave) {
  ExpectBadInput(Train("m.pbtxt", {"--save", "no-such-folder/out.safetensors"}),
                 "sbpflow: --save: cannot write no-such-folder/out.safetensors: No such file or "
                 "directory");
}

TEST_F(CheckpointCliTest, SaveOntoAFolder) {
  fs::create_directory(work_ / "folder");
  ExpectBadInput(Train("m.pbtxt", {"--save", "folder"}),
                 "sbpflow: --save: cannot write folder: it is a folder");
}

TEST_F(CheckpointCliTest, UnwritableLogJson) {
  // A path through a regular file fails even for root.
  ExpectBadInput(Train("m.pbtxt", {"--log-json", "m.pbtxt/log.json"}),
                 "sbpflow: --log-json: cannot write m.pbtxt/log.json: Not a directory");
}

TEST_F(CheckpointCliTest, UnwritableTrace) {
  ExpectBadInput(Train("m.pbtxt", {"--trace", "no-such-folder/trace.json"}),
                 "sbpflow: --trace: cannot write no-such-folder/trace.json: No such file or "
                 "directory");
}

// An output over an input, or two outputs on one file, would silently lose
// one of them; paths are compared after normalization.
TEST_F(CheckpointCliTest, OutputOverAnInput) {
  const std::string graph = Read("m.pbtxt");
  const std::string checkpoint = Read("m.safetensors");
  ExpectBadInput(Train("m.pbtxt", {"--save", "m.pbtxt"}),
                 "sbpflow: --save m.pbtxt is the graph file (an output must not overwrite an "
                 "input)");
  ExpectBadInput(Train("m.pbtxt", {"--trace", "./m.pbtxt"}),
                 "sbpflow: --trace ./m.pbtxt is the graph file (an output must not overwrite an "
                 "input)");
  fs::create_directory(work_ / "sub");
  ExpectBadInput(Train("m.pbtxt", {"--log-json", "sub/../m.pbtxt"}),
                 "sbpflow: --log-json sub/../m.pbtxt is the graph file (an output must not "
                 "overwrite an input)");
  ExpectBadInput(Train("m.pbtxt", {"--init-from", "m.safetensors", "--save", "m.safetensors"}),
                 "sbpflow: --save m.safetensors is the --init-from checkpoint (an output must not "
                 "overwrite an input)");
  Write("t.txt", std::string(200, 'z'));
  Succeed({"gen", "gpt", "--layers", "1", "--hidden", "8", "--heads", "2", "--seq", "16", "-o",
           "g.pbtxt"});
  ExpectBadInput({"train", "g.pbtxt", "--data", "text:t.txt", "--batch", "4", "--steps", "1",
                  "--log-json", "t.txt"},
                 "sbpflow: --log-json t.txt is the --data text file (an output must not overwrite "
                 "an input)");
  ExpectBadInput({"compile", "m.pbtxt", "--batch", "4", "-o", "m.pbtxt"},
                 "sbpflow: --output m.pbtxt is the graph file (an output must not overwrite an "
                 "input)");
  EXPECT_EQ(Read("m.pbtxt"), graph);
  EXPECT_EQ(Read("m.safetensors"), checkpoint);
}

TEST_F(CheckpointCliTest, TwoOutputsOnOneFile) {
  ExpectBadInput(Train("m.pbtxt", {"--log-json", "out.safetensors"}),
                 "sbpflow: --log-json and --save both name out.safetensors");
  ExpectBadInput(Train("m.pbtxt", {"--trace", "./log.json"}),
                 "sbpflow: --log-json and --trace both name ./log.json");
}

// A graph too big for any machine: 2^60 parameters. Memory is exhausted,
// which is not the user's input being malformed (exit code 1), but the run
// still ends with one line rather than an abort.
TEST_F(CliTest, GraphTooBigForMemoryFailsCleanly) {
  std::string graph = LinearGraph(true);
  graph.replace(graph.find("signature"), 0, R"pb(
    nodes {
      name: "big"
      op: "Variable"
      attrs {
        key: "shape"
        value { shape { dims: 1099511627776 dims: 1048576 } }
      }
    }
    nodes { name: "penalty" op: "ReduceMean" inputs: "big" }
    nodes { name: "total" op: "Add" inputs: "loss" inputs: "penalty" }
  )pb");
  graph.replace(graph.find("loss: \"loss\""), 12, "loss: \"total\"");
  Write("big.pbtxt", graph);
  const std::set<std::string> before = Listing();
  CommandResult result = Sbpflow(Train("big.pbtxt"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "sbpflow: out of memory: the job's tensors do not fit in this machine's memory\n");
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(Listing(), before);
}

// ---------------------------------------------------------------------------
// Happy paths.

TEST_F(CliTest, GenThenInspectTable) {
  EXPECT_EQ(Succeed({"gen", "mlp", "--layers", "784,16,10", "-o", "m.pbtxt"}),
            "wrote m.pbtxt (12 nodes)\n");
  const std::string table = Succeed({"inspect", "m.pbtxt"});
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 20u) << table;
  EXPECT_EQ(lines[0], "graph mlp_784_16_10: 12 nodes, shapes at batch 1");
  EXPECT_EQ(lines[2].substr(0, 4), "name");
  EXPECT_NE(table.find("\nfeatures "), std::string::npos) << table;
  EXPECT_NE(table.find("f32[1,784]\n"), std::string::npos) << table;
  // 784*16 + 16 + 16*10 + 10 parameters of 4 bytes.
  EXPECT_NE(table.find("\nparameters:        12,730 (50,920 bytes)\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\nFLOPs per step:    "), std::string::npos) << table;
}

TEST_F(CliTest, InspectJsonHasEveryKeyAndBinaryEqualsText) {
  GenMlp("m.pbtxt", "784,16,10");
  GenMlp("m.pb", "784,16,10");
  EXPECT_NE(Read("m.pb"), Read("m.pbtxt"));
  const std::string text = Succeed({"inspect", "m.pbtxt", "--json", "--batch", "8"});
  EXPECT_EQ(Succeed({"inspect", "m.pb", "--json", "--batch", "8"}), text);
  const nlohmann::json json = nlohmann::json::parse(text);
  std::set<std::string> keys;
  for (const auto& item : json.items()) keys.insert(item.key());
  EXPECT_EQ(keys,
            (std::set<std::string>{"activation_bytes", "batch", "flops_per_step", "forward_flops",
                                   "name", "nodes", "parameter_bytes", "parameters"}));
  EXPECT_EQ(json["name"], "mlp_784_16_10");
  EXPECT_EQ(json["batch"], 8);
  EXPECT_EQ(json["parameters"], 12730);
  EXPECT_EQ(json["parameter_bytes"], 50920);
  ASSERT_EQ(json["nodes"].size(), 12u);
  std::map<std::string, nlohmann::json> nodes;
  for (const nlohmann::json& node : json["nodes"]) nodes[node["name"]] = node;
  EXPECT_EQ(nodes["features"]["op"], "Placeholder");
  EXPECT_EQ(nodes["features"]["outputs"][0]["shape"], nlohmann::json({8, 784}));
  EXPECT_EQ(nodes["layer0.weight"]["outputs"][0]["dtype"], "f32");
  EXPECT_EQ(nodes["layer0.weight"]["outputs"][0]["shape"], nlohmann::json({784, 16}));
  EXPECT_EQ(nodes["loss"]["op"], "SoftmaxCrossEntropy");
  // The forward FLOPs are dominated by the two matrix products: 2·8·784·16 +
  // 2·8·16·10.
  EXPECT_GE(json["forward_flops"].get<int64_t>(), 2 * 8 * 784 * 16 + 2 * 8 * 16 * 10);
  EXPECT_GT(json["flops_per_step"].get<int64_t>(), json["forward_flops"].get<int64_t>());
}

TEST_F(CliTest, InspectDot) {
  GenMlp("m.pbtxt", "784,16,10");
  const std::string dot = Succeed({"inspect", "m.pbtxt", "--dot"});
  EXPECT_EQ(dot.substr(0, 25), "digraph \"mlp_784_16_10\" {");
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
  EXPECT_NE(dot.find("[label=\"features\\nPlaceholder\", style=filled, fillcolor=lightblue];"),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("[label=\"f32[1,784]\", fontsize=8];"), std::string::npos) << dot;
}

TEST_F(CliTest, TrainWritesOneJsonObjectPerStep) {
  GenMlp("m.pbtxt", "784,16,10");
  const std::string out = Succeed({"train", "m.pbtxt", "--data", "fashion-mnist", "--batch", "32",
                                   "--steps", "20", "--lr", "0.1", "--log-json", "log.json"});
  const std::vector<std::string> lines = absl::StrSplit(Read("log.json"), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 21u);
  for (int step = 1; step <= 20; ++step) {
    const nlohmann::json entry = nlohmann::json::parse(lines[step - 1]);
    EXPECT_EQ(entry["step"], step);
    EXPECT_EQ(entry["epoch"], 0);
    EXPECT_TRUE(std::isfinite(entry["loss"].get<double>())) << lines[step - 1];
    EXPECT_GT(entry["samples_per_second"].get<double>(), 0);
  }
  // Ten classes: the first loss is near ln 10, and 20 steps lower it.
  const double first = nlohmann::json::parse(lines[0])["loss"];
  const double last = nlohmann::json::parse(lines[19])["loss"];
  EXPECT_NEAR(first, std::log(10.0), 0.5);
  const nlohmann::json summary = nlohmann::json::parse(lines[20]);
  EXPECT_EQ(summary["steps"], 20);
  EXPECT_EQ(summary["final_loss"].get<double>(), last);
  const double accuracy = summary["test_accuracy"];
  EXPECT_GT(accuracy, 0.3);
  EXPECT_LE(accuracy, 1.0);
  ASSERT_EQ(summary["peak_memory_bytes"].size(), 1u);
  char expected[128];
  std::snprintf(expected, sizeof(expected), "final loss: %.4f\ntest accuracy: %.4f (10000 examples",
                last, accuracy);
  EXPECT_EQ(out.substr(0, std::string(expected).size()), expected) << out;
}

TEST_F(CliTest, StepsZeroSavesTheInitialVariables) {
  GenMlp("m.pbtxt", "8,6,4");
  EXPECT_EQ(Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "0",
                     "--seed", "5", "--save", "a.safetensors"}),
            "");
  Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "2", "--steps", "0", "--seed", "5",
           "--save", "b.safetensors"});
  Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "0", "--seed", "6",
           "--save", "c.safetensors"});
  // The initial values depend on the seed only (not on the batch).
  EXPECT_EQ(Read("a.safetensors"), Read("b.safetensors"));
  EXPECT_NE(Read("a.safetensors"), Read("c.safetensors"));

  CpuAllocator allocator;
  auto checkpoint = ReadSafetensors(Path("a.safetensors"), &allocator);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->metadata.at("steps"), "0");
  // Names and shapes as the graph's variables (inspect reads them from the
  // graph file).
  std::map<std::string, std::vector<int64_t>> variables;
  const nlohmann::json json = nlohmann::json::parse(Succeed({"inspect", "m.pbtxt", "--json"}));
  for (const nlohmann::json& node : json["nodes"]) {
    if (node["op"] == "Variable") {
      variables[node["name"]] = node["outputs"][0]["shape"].get<std::vector<int64_t>>();
    }
  }
  ASSERT_EQ(variables.size(), 4u);
  std::map<std::string, std::vector<int64_t>> saved;
  for (const auto& [name, tensor] : checkpoint->tensors) {
    saved[name] = tensor.shape().dims();
    EXPECT_EQ(tensor.dtype(), DataType::kFloat32) << name;
  }
  EXPECT_EQ(saved, variables);
  // Biases start at zero; xavier_uniform weights within ±sqrt(6 / (in + out)).
  const Tensor& bias = checkpoint->tensors.at("layer0.bias");
  for (int64_t i = 0; i < bias.num_elements(); ++i) EXPECT_EQ(bias.data<float>()[i], 0.0f);
  const Tensor& weight = checkpoint->tensors.at("layer0.weight");
  const float bound = std::sqrt(6.0f / (8 + 6));
  float largest = 0;
  for (int64_t i = 0; i < weight.num_elements(); ++i) {
    largest = std::max(largest, std::abs(weight.data<float>()[i]));
  }
  EXPECT_LE(largest, bound);
  EXPECT_GT(largest, bound / 2);
}

TEST_F(CliTest, EvalOfSavedCheckpointReproducesTrainingAccuracy) {
  GenMlp("m.pbtxt", "784,16,10");
  const std::string trained =
      Succeed({"train", "m.pbtxt", "--data", "fashion-mnist", "--batch", "50", "--steps", "30",
               "--lr", "0.1", "--save", "m.safetensors"});
  // "final loss: L\ntest accuracy: A (10000 examples, loss T)\n"
  const std::vector<std::string> lines = absl::StrSplit(trained, '\n');
  ASSERT_EQ(lines.size(), 3u) << trained;
  const std::string prefix = "test accuracy: ";
  ASSERT_EQ(lines[1].substr(0, prefix.size()), prefix) << trained;
  const std::string accuracy = lines[1].substr(prefix.size(), 6);
  const size_t loss_at = lines[1].find("loss ");
  const std::string test_loss = lines[1].substr(loss_at + 5, lines[1].size() - loss_at - 6);

  const std::string evaluated = Succeed({"eval", "m.pbtxt", "--data", "fashion-mnist", "--batch",
                                         "50", "--init-from", "m.safetensors"});
  EXPECT_EQ(evaluated,
            absl::StrCat("loss: ", test_loss, " (10000 examples)\naccuracy: ", accuracy, "\n"));

  // Loading the checkpoint into a new run and saving it unchanged gives the
  // same tensors.
  Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "0", "--init-from",
           "m.safetensors", "--save", "again.safetensors"});
  CpuAllocator allocator;
  auto first = ReadSafetensors(Path("m.safetensors"), &allocator);
  auto second = ReadSafetensors(Path("again.safetensors"), &allocator);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(first->tensors.size(), second->tensors.size());
  for (const auto& [name, tensor] : first->tensors) {
    const Tensor& other = second->tensors.at(name);
    ASSERT_EQ(tensor.type(), other.type()) << name;
    EXPECT_EQ(std::memcmp(tensor.data<float>(), other.data<float>(),
                          tensor.num_elements() * sizeof(float)),
              0)
        << name;
  }
}

// Sequence models are scored per position: loss and next-byte accuracy are
// means over every label of the held-out batches, and eval with the
// training's seed sees the same batches.
TEST_F(CliTest, EvalOfTextModelReproducesTrainingFigures) {
  Succeed({"gen", "gpt", "--layers", "1", "--hidden", "16", "--heads", "2", "--seq", "16", "-o",
           "g.pb"});
  const std::string data = "text:/usr/share/common-licenses/GPL-3";
  const std::string trained =
      Succeed({"train", "g.pb", "--data", data, "--batch", "4", "--steps", "30", "--optimizer",
               "adam", "--lr", "0.01", "--seed", "7", "--save", "g.safetensors"});
  // "final loss: L\ntest accuracy: A (32 examples, loss T)\n": 8 batches of 4
  // sequences.
  const std::vector<std::string> lines = absl::StrSplit(trained, '\n');
  ASSERT_EQ(lines.size(), 3u) << trained;
  const std::string prefix = "test accuracy: ";
  ASSERT_EQ(lines[1].substr(0, prefix.size()), prefix) << trained;
  const double accuracy = std::stod(lines[1].substr(prefix.size()));
  EXPECT_GT(accuracy, 0.0);
  EXPECT_LT(accuracy, 1.0);
  const std::string accuracy_text = lines[1].substr(prefix.size(), 6);
  const size_t loss_at = lines[1].find("loss ");
  const std::string test_loss = lines[1].substr(loss_at + 5, lines[1].size() - loss_at - 6);
  EXPECT_EQ(lines[1].substr(prefix.size() + 6, 15), " (32 examples, ");
  EXPECT_LT(std::stod(test_loss), std::log(256.0));

  const std::string evaluated = Succeed({"eval", "g.pb", "--data", data, "--batch", "4", "--seed",
                                         "7", "--init-from", "g.safetensors"});
  EXPECT_EQ(evaluated,
            absl::StrCat("loss: ", test_loss, " (32 examples)\naccuracy: ", accuracy_text, "\n"));
}

// pp=2 x dp=2 x tp=2 with the interleaved schedule: the logged losses equal
// the single-device run's, and the evaluation after training (which runs
// the pipelined plan's forwards in GPipe's order over the same chunks)
// reports a test accuracy.
TEST_F(CliTest, HybridInterleavedPipelineTrainsAndEvaluatesAsOneDevice) {
  GenMlp("m.pbtxt", "8,16,16,4");
  const std::vector<std::string> common = {"train",   "m.pbtxt", "--data",  "synthetic",
                                           "--batch", "8",       "--steps", "2",
                                           "--seed",  "3",       "--lr",    "0.1"};
  // The losses of a --log-json file, and its summary line.
  struct Log {
    std::vector<double> losses;
    nlohmann::json summary;
  };
  auto read_log = [&](const std::string& name) {
    Log log;
    for (absl::string_view line : absl::StrSplit(Read(name), '\n', absl::SkipEmpty())) {
      const nlohmann::json entry = nlohmann::json::parse(line);
      if (entry.contains("step")) {
        log.losses.push_back(entry["loss"].get<double>());
      } else {
        log.summary = entry;
      }
    }
    return log;
  };
  std::vector<std::string> single = common;
  single.insert(single.end(), {"--log-json", "single.json"});
  Succeed(single);
  std::vector<std::string> hybrid = common;
  hybrid.insert(hybrid.end(),
                {"--devices", "cpu:0-7", "--pipeline", "2", "--mesh", "2x2", "--strategy", "dp,tp",
                 "--schedule", "interleaved", "--micro-batches", "4", "--log-json", "hybrid.json"});
  const std::string out = Succeed(hybrid);
  EXPECT_NE(out.find("test accuracy: "), std::string::npos) << out;
  const Log expected = read_log("single.json");
  const Log actual = read_log("hybrid.json");
  ASSERT_EQ(expected.losses.size(), 2u);
  ASSERT_EQ(actual.losses.size(), 2u);
  for (size_t step = 0; step < expected.losses.size(); ++step) {
    EXPECT_NEAR(actual.losses[step], expected.losses[step], 1e-5 * std::abs(expected.losses[step]))
        << "step " << step + 1;
  }
  ASSERT_TRUE(actual.summary.contains("test_accuracy")) << actual.summary.dump();
  ASSERT_TRUE(expected.summary.contains("test_accuracy")) << expected.summary.dump();
  EXPECT_EQ(actual.summary["test_accuracy"], expected.summary["test_accuracy"]);
  const double test_loss = expected.summary["test_loss"];
  EXPECT_NEAR(actual.summary["test_loss"].get<double>(), test_loss, 1e-5 * std::abs(test_loss));
  EXPECT_EQ(actual.summary["peak_memory_bytes"].size(), 8u);
}

TEST_F(CliTest, TraceIsChromeTraceJson) {
  GenMlp("m.pbtxt", "8,6,4");
  Succeed({"train", "m.pbtxt", "--data", "synthetic", "--batch", "4", "--steps", "2", "--trace",
           "trace.json"});
  const nlohmann::json trace = nlohmann::json::parse(Read("trace.json"));
  ASSERT_TRUE(trace.contains("traceEvents"));
  std::set<std::string> process_names;
  std::map<int64_t, std::set<std::string>> ops_by_step;
  for (const nlohmann::json& event : trace["traceEvents"]) {
    if (event["ph"] == "M" && event["name"] == "process_name") {
      process_names.insert(event["args"]["name"].get<std::string>());
    }
    if (event["ph"] != "X") continue;
    EXPECT_GE(event["ts"].get<double>(), 0);
    EXPECT_GE(event["dur"].get<double>(), 0);
    ops_by_step[event["args"]["step"].get<int64_t>()].insert(event["name"].get<std::string>());
  }
  EXPECT_EQ(process_names, std::set<std::string>{"cpu:0"});
  ASSERT_EQ(ops_by_step.size(), 2u);
  for (const auto& [step, ops] : ops_by_step) {
    for (const char* op : {"features", "layer0/MatMul", "loss", "optimizer/layer0.weight/update"}) {
      EXPECT_TRUE(ops.contains(op)) << "step " << step << " has no " << op;
    }
  }
}

// Eight parallel MatMul -> Tanh branches summed into one loss: at 2 threads
// the compute lane of cpu:0 runs several kernels at once. Trace viewers draw
// the slices of one thread as a stack, so no two slices of one (pid, tid) may
// overlap without one containing the other; every track is named.
TEST_F(CliTest, TraceOfAWideGraphNestsOnEveryTrack) {
  std::string graph = R"pb(
    name: "wide"
    nodes {
      name: "x"
      op: "Placeholder"
      attrs {
        key: "shape"
        value { shape { dims: -1 dims: 64 } }
      }
    }
    nodes {
      name: "y"
      op: "Placeholder"
      attrs {
        key: "shape"
        value { shape { dims: -1 } }
      }
      attrs {
        key: "dtype"
        value { type: DT_INT32 }
      }
    }
  )pb";
  for (int branch = 0; branch < 8; ++branch) {
    absl::StrAppend(&graph, "nodes { name: \"w", branch,
                    "\" op: \"Variable\" attrs { key: \"shape\" value { shape { dims: 64 dims: "
                    "64 } } } attrs { key: \"initializer\" value { s: \"xavier_uniform\" } } }\n",
                    "nodes { name: \"h", branch, "\" op: \"MatMul\" inputs: \"x\" inputs: \"w",
                    branch, "\" }\n", "nodes { name: \"t", branch, "\" op: \"Tanh\" inputs: \"h",
                    branch, "\" }\n");
    if (branch > 0) {
      absl::StrAppend(&graph, "nodes { name: \"s", branch, "\" op: \"Add\" inputs: \"",
                      branch == 1 ? "t0" : absl::StrCat("s", branch - 1), "\" inputs: \"t", branch,
                      "\" }\n");
    }
  }
  absl::StrAppend(&graph, R"pb(
    nodes { name: "loss" op: "SoftmaxCrossEntropy" inputs: "s7" inputs: "y" }
    signature { loss: "loss" features: "x" labels: "y" logits: "s7" }
  )pb");
  Write("wide.pbtxt", graph);
  Succeed({"train", "wide.pbtxt", "--data", "synthetic", "--batch", "32", "--steps", "3",
           "--threads", "2", "--trace", "trace.json"});
  const nlohmann::json trace = nlohmann::json::parse(Read("trace.json"));
  struct Slice {
    int64_t start;
    int64_t end;
    std::string name;
  };
  std::map<std::pair<int, int>, std::vector<Slice>> tracks;
  std::map<std::pair<int, int>, std::string> thread_names;
  for (const nlohmann::json& event : trace["traceEvents"]) {
    const std::pair<int, int> track = {event["pid"].get<int>(), event.value("tid", -1)};
    if (event["ph"] == "M" && event["name"] == "thread_name") {
      thread_names[track] = event["args"]["name"].get<std::string>();
    }
    if (event["ph"] != "X") continue;
    // Nanoseconds, as viewers read them.
    const int64_t start = std::llround(event["ts"].get<double>() * 1000);
    tracks[track].push_back(
        Slice{start, start + std::llround(event["dur"].get<double>() * 1000), event["name"]});
  }
  ASSERT_FALSE(tracks.empty());
  for (auto& [track, slices] : tracks) {
    SCOPED_TRACE(absl::StrCat("pid ", track.first, " tid ", track.second));
    EXPECT_TRUE(thread_names.contains(track));
    std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
      return a.start != b.start ? a.start < b.start : a.end > b.end;
    });
    // The slices that contain the current one.
    std::vector<const Slice*> open;
    for (const Slice& slice : slices) {
      while (!open.empty() && open.back()->end <= slice.start) open.pop_back();
      if (!open.empty()) {
        EXPECT_LE(slice.end, open.back()->end) << "'" << slice.name << "' starts inside '"
                                               << open.back()->name << "' and ends after it";
      }
      open.push_back(&slice);
    }
  }
  for (const auto& [track, name] : thread_names) {
    EXPECT_TRUE(absl::StartsWith(name, "cpu:0 compute ") ||
                absl::StartsWith(name, "cpu:0 communication "))
        << name;
  }
  EXPECT_EQ(thread_names.at({0, 0}), "cpu:0 compute 0");
}

}  // namespace
}  // namespace sbpflow
