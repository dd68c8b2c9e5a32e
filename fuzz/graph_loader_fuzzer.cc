// libFuzzer target for the graph loader and validator: every input goes
// through LoadGraphFile (format detection, text or binary parse,
// GraphFromProto with shape inference), exactly as `sbpflow` reads a graph
// file. Bad input must come back as a Status; a crash, a sanitizer report or
// a CHECK failure is a bug.
//
// A graph that loads must also survive its own round trip: GraphToProto of
// it loads again with the same number of nodes.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "graph/graph_proto.h"
#include "graph/ops/builtin_ops.h"

namespace {

// The input lives in an anonymous in-memory file opened by name through
// /proc, so the loader reads it with its ordinary file code and nothing is
// left on disk.
class InputFile {
 public:
  InputFile() : fd_(memfd_create("graph", 0)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }

  const std::string& Write(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t written = 0;
    while (written < size) {
      const ssize_t count = pwrite(fd_, data + written, size - written, written);
      if (count <= 0) std::abort();
      written += static_cast<size_t>(count);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sbpflow::OpRegistry* registry = [] {
    auto built = sbpflow::BuildBuiltinOpRegistry();
    if (!built.ok()) std::abort();
    return new sbpflow::OpRegistry(*std::move(built));
  }();
  static InputFile* file = new InputFile();

  // The batch the placeholders' -1 binds to varies with the input so that
  // shape inference sees more than one value.
  const int64_t batch = 1 + static_cast<int64_t>(size % 3);
  auto graph = sbpflow::LoadGraphFile(file->Write(data, size), *registry, batch);
  if (!graph.ok()) {
    // Every loader error is the user's, reported as one InvalidArgument
    // naming the file.
    if (graph.status().code() != absl::StatusCode::kInvalidArgument) {
      std::fprintf(stderr, "unexpected status: %s\n", graph.status().ToString().c_str());
      std::abort();
    }
    return 0;
  }
  auto reloaded = sbpflow::GraphFromProto(sbpflow::GraphToProto(*graph), *registry, "round trip",
                                          batch);
  if (!reloaded.ok() || reloaded->num_nodes() != graph->num_nodes()) {
    std::fprintf(stderr, "round trip failed: %s\n",
                 reloaded.ok() ? "node count differs" : reloaded.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
