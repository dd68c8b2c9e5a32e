// Boxing, exhaustively: every pair of layouts from {S(i), B, P} per mesh axis
// on 1-D meshes of 1 to 5 devices and on 2x2 and 2x3 meshes, over even,
// uneven and zero-size shapes, and between different device sets. Each plan
// runs on the in-process communicator and the boxing kernels; the result
// must be the logical tensor, and the collectives issued the expected ones.
#include <future>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "comm/in_process_communicator.h"
#include "gtest/gtest.h"
#include "kernel/cpu/cpu_kernels.h"
#include "sbp/boxing/boxing_plan.h"
#include "sbp/boxing/step_lowering.h"

namespace sbpflow {
namespace {

// Small integers, so float sums are exact in any order.
float ValueAt(uint64_t seed, int64_t index) {
  return static_cast<float>(static_cast<int>((seed * 2654435761u + index * 40503u) % 17) - 8);
}

// Every device's tensor of `layout`, made up so that the layout describes a
// logical tensor: replicas along broadcast axes hold the same data; partial
// axes hold arbitrary addends.
std::map<Device, Tensor> MakePieces(const Shape& shape, const Layout& layout,
                                    Allocator* allocator) {
  std::map<Device, Tensor> pieces;
  for (int rank = 0; rank < layout.placement.size(); ++rank) {
    const Box box = ShardBox(shape, layout.nd_sbp, layout.placement, rank);
    // The seed ignores coordinates along broadcast axes.
    const std::vector<int64_t> coordinate = layout.placement.Coordinate(rank);
    uint64_t seed = 1;
    for (int axis = 0; axis < layout.placement.mesh_rank(); ++axis) {
      seed = seed * 31 + (layout.nd_sbp[axis].is_broadcast() ? 0 : coordinate[axis] + 1);
    }
    Tensor tensor(allocator, DataType::kFloat32, BoxShape(box));
    for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.data<float>()[i] = ValueAt(seed, i);
    pieces[layout.placement.devices()[rank]] = tensor;
  }
  return pieces;
}

// The logical tensor `pieces` represent under `layout`: the sum over
// partial axes of the slices, counting each broadcast replica once.
std::vector<float> Logical(const Shape& shape, const Layout& layout,
                           const std::map<Device, Tensor>& pieces) {
  std::vector<float> logical(shape.NumElements(), 0.0f);
  const Box full = FullBox(shape);
  for (int rank = 0; rank < layout.placement.size(); ++rank) {
    const std::vector<int64_t> coordinate = layout.placement.Coordinate(rank);
    bool first_replica = true;
    for (int axis = 0; axis < layout.placement.mesh_rank(); ++axis) {
      if (layout.nd_sbp[axis].is_broadcast() && coordinate[axis] != 0) first_replica = false;
    }
    if (!first_replica) continue;
    const Box box = ShardBox(shape, layout.nd_sbp, layout.placement, rank);
    const Tensor& piece = pieces.at(layout.placement.devices()[rank]);
    AddRegion<float>(piece.data<float>(), box, logical.data(), full, box);
  }
  return logical;
}

// Runs a plan's steps: local ones through the registered boxing kernels,
// collectives on an in-process communicator.
std::map<Device, Tensor> RunPlan(const BoxingPlan& plan, const Shape& shape,
                                 std::map<Device, Tensor> pieces, const KernelRegistry& kernels,
                                 Allocator* allocator) {
  std::map<Device, int> index;
  for (const auto& step : plan.steps) {
    for (const Device& device : step.devices) index.emplace(device, static_cast<int>(index.size()));
    for (const Device& device : step.to.placement.devices()) {
      index.emplace(device, static_cast<int>(index.size()));
    }
  }
  InProcessCommunicator communicator(static_cast<int>(index.size()));
  KernelEnvironment environment{allocator, 0, 0};
  for (size_t step_index = 0; step_index < plan.steps.size(); ++step_index) {
    const BoxingStep& step = plan.steps[step_index];
    std::map<Device, Tensor> next;
    if (IsLocal(step.kind)) {
      for (const LocalStepOp& op : LocalStepOps(step, shape)) {
        std::vector<Tensor> inputs = {pieces.at(op.device)};
        std::vector<Tensor> outputs = {
            Tensor(allocator, DataType::kFloat32, BoxShape(op.output_box))};
        KernelContext context(&op.attrs, &inputs, &outputs, &environment);
        const KernelFn* kernel = kernels.Find(op.type, DeviceType::kCpu, DataType::kFloat32);
        EXPECT_NE(kernel, nullptr);
        EXPECT_TRUE((*kernel)(context).ok());
        next[op.device] = outputs[0];
      }
    } else {
      std::vector<std::future<absl::Status>> done;
      std::vector<std::shared_ptr<std::promise<absl::Status>>> promises;
      std::map<int, Device> device_of;
      for (const auto& [device, plan_index] : index) device_of[plan_index] = device;
      for (const auto& members :
           CollectiveStepSpecs(step, shape, DataType::kFloat32, absl::StrCat("step", step_index),
                               [&](const Device& d) { return index.at(d); })) {
        for (const CollectiveSpec& spec : members) {
          const Device device = device_of.at(spec.group[spec.rank]);
          Tensor input = spec.has_input[spec.rank] ? pieces.at(device) : Tensor();
          Tensor output;
          if (spec.has_output[spec.rank]) {
            output = Tensor(allocator, DataType::kFloat32, BoxShape(spec.output_boxes[spec.rank]));
            next[device] = output;
          }
          auto promise = std::make_shared<std::promise<absl::Status>>();
          done.push_back(promise->get_future());
          communicator.Start(spec, CollectiveInstance{0, 0}, input, output,
                             [promise](absl::Status status) { promise->set_value(status); });
          promises.push_back(promise);
        }
      }
      for (auto& future : done) EXPECT_TRUE(future.get().ok());
    }
    pieces = std::move(next);
  }
  return pieces;
}

std::vector<Sbp> OneAxisChoices(int rank) {
  std::vector<Sbp> choices;
  for (int axis = 0; axis < rank; ++axis) choices.push_back(Sbp::Split(axis));
  choices.push_back(Sbp::Broadcast());
  choices.push_back(Sbp::PartialSum());
  return choices;
}

std::vector<NdSbp> Layouts(int tensor_rank, int mesh_rank) {
  std::vector<NdSbp> result = {{}};
  for (int axis = 0; axis < mesh_rank; ++axis) {
    std::vector<NdSbp> next;
    for (const NdSbp& prefix : result) {
      for (const Sbp& sbp : OneAxisChoices(tensor_rank)) {
        next.push_back(prefix);
        next.back().push_back(sbp);
      }
    }
    result = std::move(next);
  }
  return result;
}

// The 1-D step kind a change needs (none when equal).
std::optional<BoxingKind> ExpectedKind(const Sbp& from, const Sbp& to) {
  if (from == to) return std::nullopt;
  if (from.is_split() && to.is_split()) return BoxingKind::kAllToAll;
  if (from.is_split() && to.is_broadcast()) return BoxingKind::kAllGather;
  if (from.is_partial() && to.is_broadcast()) return BoxingKind::kAllReduce;
  if (from.is_partial() && to.is_split()) return BoxingKind::kReduceScatter;
  if (from.is_broadcast() && to.is_split()) return BoxingKind::kSlice;
  return BoxingKind::kZeroFill;
}

std::string Kinds(const BoxingPlan& plan) {
  std::vector<std::string> kinds;
  for (const BoxingStep& step : plan.steps) kinds.emplace_back(BoxingKindName(step.kind));
  return absl::StrJoin(kinds, ",");
}

class BoxingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kernels = BuildBuiltinKernelRegistry();
    ASSERT_TRUE(kernels.ok());
    kernels_ = std::make_unique<KernelRegistry>(*std::move(kernels));
  }

  // Plans and runs from -> to and checks the logical result; returns the plan.
  BoxingPlan Check(const Shape& shape, const Layout& from, const Layout& to) {
    const std::string what =
        absl::StrCat(shape.ToString(), " ", from.ToString(), " -> ", to.ToString());
    auto plan = PlanBoxing(BoxingRequest{shape, DataType::kFloat32, from, to, LinkModel{}});
    EXPECT_TRUE(plan.ok()) << what << ": " << plan.status();
    if (!plan.ok()) return {};
    std::map<Device, Tensor> pieces = MakePieces(shape, from, &allocator_);
    const std::vector<float> expected = Logical(shape, from, pieces);
    std::map<Device, Tensor> result = RunPlan(*plan, shape, pieces, *kernels_, &allocator_);
    EXPECT_EQ(result.size(), static_cast<size_t>(to.placement.size())) << what;
    for (int rank = 0; rank < to.placement.size(); ++rank) {
      const Device& device = to.placement.devices()[rank];
      if (!result.contains(device)) return *plan;
      EXPECT_EQ(result.at(device).shape(), BoxShape(ShardBox(shape, to.nd_sbp, to.placement, rank)))
          << what << " on " << device.ToString();
    }
    EXPECT_EQ(Logical(shape, to, result), expected) << what << " via " << Kinds(*plan);
    return *plan;
  }

  CpuAllocator allocator_;
  std::unique_ptr<KernelRegistry> kernels_;
};

Placement Mesh(int first, std::vector<int64_t> mesh) {
  int64_t size = 1;
  for (int64_t extent : mesh) size *= extent;
  std::vector<Device> devices;
  for (int64_t i = 0; i < size; ++i)
    devices.push_back(Device{DeviceType::kCpu, first + static_cast<int>(i)});
  return *Placement::Create(devices, mesh, {});
}

const std::vector<Shape> kShapes = {Shape{6, 4}, Shape{5, 7}, Shape{13, 17}, Shape{0, 3}};

TEST_F(BoxingTest, OneDimensionalMeshesIssueExactlyTheExpectedCollective) {
  for (int devices = 1; devices <= 5; ++devices) {
    const Placement placement = Mesh(0, {devices});
    for (const Shape& shape : kShapes) {
      for (const NdSbp& from : Layouts(shape.rank(), 1)) {
        for (const NdSbp& to : Layouts(shape.rank(), 1)) {
          const BoxingPlan plan = Check(shape, Layout{placement, from}, Layout{placement, to});
          const std::optional<BoxingKind> expected = ExpectedKind(from[0], to[0]);
          const std::string what = absl::StrCat(shape.ToString(), " ", NdSbpToString(from), " -> ",
                                                NdSbpToString(to), " on ", devices);
          // On one device every layout is the whole tensor: nothing moves.
          if (!expected.has_value() || devices == 1) {
            EXPECT_TRUE(plan.steps.empty()) << what << ": " << Kinds(plan);
          } else {
            ASSERT_EQ(plan.steps.size(), 1u) << what << ": " << Kinds(plan);
            EXPECT_EQ(plan.steps[0].kind, *expected) << what;
            EXPECT_EQ(plan.steps[0].mesh_axis, 0) << what;
          }
        }
      }
    }
  }
}

TEST_F(BoxingTest, TwoDimensionalMeshesChangeOneAxisAtATime) {
  for (const std::vector<int64_t>& mesh :
       {std::vector<int64_t>{2, 2}, std::vector<int64_t>{2, 3}}) {
    const Placement placement = Mesh(0, mesh);
    for (const Shape& shape : kShapes) {
      for (const NdSbp& from : Layouts(shape.rank(), 2)) {
        for (const NdSbp& to : Layouts(shape.rank(), 2)) {
          const BoxingPlan plan = Check(shape, Layout{placement, from}, Layout{placement, to});
          // Even sizes decompose into one step per changed axis, except where a
          // tensor dimension is split on both mesh axes (the inner split is
          // nested in the outer one, so changing one axis moves the other's
          // slices too) or both axes trade split dimensions: those take one
          // general all_to_all, which moves each element once.
          if (shape != Shape{6, 4} || mesh[1] != 2) continue;
          auto nested = [](const NdSbp& layout) {
            return layout[0].is_split() && layout[1].is_split() &&
                   layout[0].axis() == layout[1].axis();
          };
          const bool swap = from[0].is_split() && from[1].is_split() && to[0].is_split() &&
                            to[1].is_split() && from != to;
          if (nested(from) || nested(to) || swap) {
            bool general = false;
            for (const BoxingStep& step : plan.steps) {
              general = general || (step.kind == BoxingKind::kAllToAll && step.mesh_axis == -1);
            }
            if (general) continue;
          }
          std::multiset<BoxingKind> expected;
          for (int axis = 0; axis < 2; ++axis) {
            if (auto kind = ExpectedKind(from[axis], to[axis])) expected.insert(*kind);
          }
          std::multiset<BoxingKind> actual;
          for (const BoxingStep& step : plan.steps) actual.insert(step.kind);
          EXPECT_EQ(actual, expected)
              << NdSbpToString(from) << " -> " << NdSbpToString(to) << ": " << Kinds(plan);
        }
      }
    }
  }
}

TEST_F(BoxingTest, NestedSplitsOfUnevenSizesDifferFromOneFlatSplit) {
  // 5 rows: (S(0),S(0)) on 2x2 gives 2,1,1,1; S(0) on 4 gives 2,1,1,1 too,
  // but for 7 rows: 2,2,2,1 flat vs 2,2 | 2,1 nested.
  const Shape shape{7, 3};
  const Placement square = Mesh(0, {2, 2});
  const Placement line = Mesh(0, {4});
  std::vector<int64_t> nested;
  std::vector<int64_t> flat;
  for (int rank = 0; rank < 4; ++rank) {
    nested.push_back(ShardBox(shape, {Sbp::Split(0), Sbp::Split(0)}, square, rank)[0].begin);
    flat.push_back(ShardBox(shape, {Sbp::Split(0)}, line, rank)[0].begin);
  }
  EXPECT_EQ(nested, (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(flat, (std::vector<int64_t>{0, 2, 4, 6}));
  const Shape odd{5, 3};
  nested.clear();
  flat.clear();
  for (int rank = 0; rank < 4; ++rank) {
    nested.push_back(ShardBox(odd, {Sbp::Split(0), Sbp::Split(0)}, square, rank)[0].end);
    flat.push_back(ShardBox(odd, {Sbp::Split(0)}, line, rank)[0].end);
  }
  EXPECT_EQ(nested, (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(flat, (std::vector<int64_t>{2, 3, 4, 5}));
  // And the change between them is planned and exact.
  Check(Shape{13, 3}, Layout{square, {Sbp::Split(0), Sbp::Split(0)}},
        Layout{line, {Sbp::Split(0)}});
}

TEST_F(BoxingTest, BetweenDeviceSets) {
  const std::vector<Placement> placements = {Mesh(0, {2}), Mesh(2, {3}), Mesh(4, {2, 2}),
                                             Mesh(1, {3})};
  for (const Shape& shape : {Shape{6, 4}, Shape{5, 7}, Shape{0, 3}}) {
    for (const Placement& source : placements) {
      for (const Placement& target : placements) {
        if (source == target) continue;
        for (const NdSbp& from : Layouts(shape.rank(), source.mesh_rank())) {
          for (const NdSbp& to : Layouts(shape.rank(), target.mesh_rank())) {
            const BoxingPlan plan = Check(shape, Layout{source, from}, Layout{target, to});
            // Exactly one transfer step, after any reductions.
            int transfers = 0;
            for (const BoxingStep& step : plan.steps) {
              transfers += step.kind == BoxingKind::kSendRecv || step.kind == BoxingKind::kAllToAll;
            }
            EXPECT_EQ(transfers, 1) << NdSbpToString(from) << " -> " << NdSbpToString(to);
          }
        }
      }
    }
  }
}

// Between congruent placements (pipeline ranks: the same mesh over other
// devices) shards move as they are and the change runs as on one placement,
// so the result has the same bits as the change on one placement, even for
// sums whose order matters (thirds do not add exactly): a partial sum that
// crosses a stage boundary is not reduced early.
TEST_F(BoxingTest, BetweenCongruentPlacementsSumsAsOnOnePlacement) {
  const Shape shape{5, 7};
  for (const std::vector<int64_t>& mesh : {std::vector<int64_t>{2, 2}, std::vector<int64_t>{3}}) {
    const Placement here = Mesh(0, mesh);
    const Placement there = Mesh(8, mesh);
    ASSERT_TRUE(CongruentPlacements(here, there));
    ASSERT_FALSE(CongruentPlacements(here, here));
    for (const NdSbp& from : Layouts(shape.rank(), here.mesh_rank())) {
      for (const NdSbp& to : Layouts(shape.rank(), here.mesh_rank())) {
        const std::string what =
            absl::StrCat(NdSbpToString(from), " -> ", NdSbpToString(to), " on ", here.MeshString());
        const BoxingPlan moved = Check(shape, Layout{here, from}, Layout{there, to});
        int moves = 0;
        for (const BoxingStep& step : moved.steps) {
          if (step.kind != BoxingKind::kSendRecv) continue;
          ++moves;
          EXPECT_EQ(step.groups.size(), here.devices().size()) << what;
          for (const auto& pair : step.groups) EXPECT_EQ(pair.size(), 2u) << what;
        }
        EXPECT_EQ(moves, 1) << what << ": " << Kinds(moved);
        if (from == to) EXPECT_EQ(moved.steps.size(), 1u) << what << ": " << Kinds(moved);

        auto same = PlanBoxing(BoxingRequest{shape, DataType::kFloat32, Layout{here, from},
                                             Layout{here, to}, LinkModel{}});
        ASSERT_TRUE(same.ok()) << what;
        std::map<Device, Tensor> pieces = MakePieces(shape, Layout{here, from}, &allocator_);
        for (auto& [device, piece] : pieces) {
          for (int64_t i = 0; i < piece.num_elements(); ++i) piece.data<float>()[i] /= 3.0f;
        }
        const auto on_one = RunPlan(*same, shape, pieces, *kernels_, &allocator_);
        const auto across = RunPlan(moved, shape, pieces, *kernels_, &allocator_);
        for (int rank = 0; rank < here.size(); ++rank) {
          const Tensor& a = on_one.at(here.devices()[rank]);
          const Tensor& b = across.at(there.devices()[rank]);
          ASSERT_EQ(a.shape(), b.shape()) << what;
          EXPECT_EQ(a.ToVector<float>(), b.ToVector<float>()) << what << " rank " << rank;
        }
      }
    }
  }
}

TEST_F(BoxingTest, RejectsLayoutsThatDoNotFit) {
  const Placement placement = Mesh(0, {2});
  auto plan =
      PlanBoxing(BoxingRequest{Shape{4, 4}, DataType::kFloat32, Layout{placement, {Sbp::Split(2)}},
                               Layout{placement, {Sbp::Broadcast()}}, LinkModel{}});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "--from: S(2) splits dimension 2 of a rank-2 tensor");
  plan = PlanBoxing(
      BoxingRequest{Shape{4, 4}, DataType::kFloat32, Layout{placement, {Sbp::Broadcast()}},
                    Layout{placement, {Sbp::Broadcast(), Sbp::Broadcast()}}, LinkModel{}});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "--to: (B,B) has 2 axes, the mesh has 1");
}

}  // namespace
}  // namespace sbpflow
