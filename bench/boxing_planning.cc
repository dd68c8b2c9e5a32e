// Times the boxing planner on every pair of layouts of a 2-D mesh: every
// combination of {S(0), S(1), B, P} per mesh axis, for even and uneven
// shapes. Target: < 1 ms per pair.
//
// Usage: boxing_planning [--mesh 2x2,2x3,4x4] [--repeats N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "sbp/boxing/boxing_plan.h"

namespace sbpflow {
namespace {

std::vector<NdSbp> Layouts() {
  const std::vector<Sbp> choices = {Sbp::Split(0), Sbp::Split(1), Sbp::Broadcast(),
                                    Sbp::PartialSum()};
  std::vector<NdSbp> layouts;
  for (const Sbp& a : choices) {
    for (const Sbp& b : choices) layouts.push_back({a, b});
  }
  return layouts;
}

int Run(const std::string& meshes, int repeats) {
  std::printf("%-6s %-12s %8s %12s %12s %12s\n", "mesh", "shape", "pairs", "mean_us", "p99_us",
              "max_us");
  for (absl::string_view mesh_text : absl::StrSplit(meshes, ',')) {
    auto mesh = ParseMesh(mesh_text);
    if (!mesh.ok()) {
      std::fprintf(stderr, "%s\n", std::string(mesh.status().message()).c_str());
      return 2;
    }
    std::vector<Device> devices;
    for (int64_t i = 0; i < (*mesh)[0] * (*mesh)[1]; ++i) {
      devices.push_back(Device{DeviceType::kCpu, static_cast<int>(i)});
    }
    const Placement placement = *Placement::Create(devices, *mesh, {});
    for (const Shape& shape : {Shape{1024, 1024}, Shape{1021, 997}}) {
      std::vector<double> times;
      for (const NdSbp& from : Layouts()) {
        for (const NdSbp& to : Layouts()) {
          const BoxingRequest request{shape, DataType::kFloat32, Layout{placement, from},
                                      Layout{placement, to}, LinkModel{}};
          double best = 1e30;
          for (int repeat = 0; repeat < repeats; ++repeat) {
            const auto start = std::chrono::steady_clock::now();
            auto plan = PlanBoxing(request);
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (!plan.ok()) {
              std::fprintf(stderr, "%s\n", std::string(plan.status().message()).c_str());
              return 1;
            }
            best = std::min(best, seconds);
          }
          times.push_back(best * 1e6);
        }
      }
      std::sort(times.begin(), times.end());
      double sum = 0;
      for (double time : times) sum += time;
      std::printf("%-6s %-12s %8zu %12.1f %12.1f %12.1f\n", std::string(mesh_text).c_str(),
                  shape.ToString().c_str(), times.size(), sum / times.size(),
                  times[times.size() * 99 / 100], times.back());
    }
  }
  return 0;
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app("Boxing planner timing");
  std::string meshes = "2x2,2x3,4x4";
  int repeats = 5;
  app.add_option("--mesh", meshes, "Comma-separated 2-D meshes")->capture_default_str();
  app.add_option("--repeats", repeats, "Timings per pair (the fastest is kept)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return sbpflow::Run(meshes, repeats);
}
