#include "actor/variable_store.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/initializer.h"
#include "gtest/gtest.h"
#include "kernel/device_context.h"

namespace sbpflow {
namespace {

struct ShardSpec {
  int device;
  Box box;
};

// A plan holding variable `name` with one kVariable op per shard.
PhysicalPlan VariablePlan(const std::string& name, TensorType logical,
                          const std::string& initializer, int64_t seed,
                          const std::vector<ShardSpec>& shards, int devices) {
  PhysicalPlan plan;
  for (int index = 0; index < devices; ++index)
    plan.devices.push_back(Device{DeviceType::kCpu, index});
  VariableSpec spec;
  spec.name = name;
  spec.logical = logical;
  spec.initializer = initializer;
  spec.seed = seed;
  for (const ShardSpec& shard : shards) {
    PlanOp op;
    op.name = absl::StrCat(name, "/", shard.device);
    op.kind = PlanOpKind::kVariable;
    op.frequency = Frequency::kPerStep;
    op.device = shard.device;
    op.variable = name;
    op.box = shard.box;
    op.outputs = {TensorType{logical.dtype, BoxShape(shard.box)}};
    spec.ops.push_back(static_cast<int>(plan.ops.size()));
    plan.ops.push_back(op);
  }
  plan.variables.push_back(spec);
  return plan;
}

std::vector<DeviceContext*> Pointers(const std::vector<std::unique_ptr<DeviceContext>>& contexts) {
  std::vector<DeviceContext*> pointers;
  for (const auto& context : contexts) pointers.push_back(context.get());
  return pointers;
}

// The initializer's value of every element of `box`, in row-major order.
std::vector<double> Expected(const std::string& name, const Shape& shape, const std::string& text,
                             uint64_t job_seed, int64_t seed, const Box& box) {
  const Initializer initializer = *ParseInitializer(text);
  const uint64_t key = InitializerKey(job_seed, seed, name);
  const std::vector<int64_t> strides = RowMajorStrides(shape);
  std::vector<double> values;
  const Shape box_shape = BoxShape(box);
  for (int64_t offset = 0; offset < BoxNumElements(box); ++offset) {
    int64_t remainder = offset;
    int64_t logical = 0;
    for (int axis = box_shape.rank() - 1; axis >= 0; --axis) {
      const int64_t coordinate = box[axis].begin + remainder % box_shape.dim(axis);
      remainder /= box_shape.dim(axis);
      logical += coordinate * strides[axis];
    }
    values.push_back(InitializerValue(initializer, shape, key, logical));
  }
  return values;
}

TEST(VariableStoreTest, ShardsHoldTheLogicalInitialValuesOfTheirBoxes) {
  const Shape shape{5, 7};
  const std::vector<ShardSpec> shards = {
      {0, {{0, 5}, {0, 7}}}, {1, {{1, 4}, {2, 6}}}, {2, {{4, 5}, {6, 7}}}, {3, {{2, 2}, {0, 7}}}};
  PhysicalPlan plan = VariablePlan("w", {DataType::kFloat32, shape}, "normal(0.5,2)", 3, shards, 4);
  auto contexts = MakeDeviceContexts(plan.devices);
  auto store = VariableStore::Create(plan, 17, Pointers(contexts));
  ASSERT_TRUE(store.ok()) << store.status();
  for (const ShardSpec& shard : shards) {
    const Tensor tensor = (*store)->Shard(shard.device, "w");
    ASSERT_TRUE(tensor.valid());
    EXPECT_EQ(tensor.type(), (TensorType{DataType::kFloat32, BoxShape(shard.box)}));
    const std::vector<double> expected = Expected("w", shape, "normal(0.5,2)", 17, 3, shard.box);
    ASSERT_EQ(tensor.num_elements(), static_cast<int64_t>(expected.size()));
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(tensor.data<float>()[i], static_cast<float>(expected[i]))
          << "device " << shard.device;
    }
  }
  EXPECT_FALSE((*store)->Shard(0, "other").valid());
}

TEST(VariableStoreTest, DoubleAndScalarVariables) {
  PhysicalPlan plan =
      VariablePlan("v", {DataType::kFloat64, Shape{6}}, "uniform(-3,1)", 0, {{1, {{2, 6}}}}, 2);
  VariableSpec scalar;
  scalar.name = "s";
  scalar.logical = {DataType::kFloat32, Shape{}};
  scalar.initializer = "constant(2.5)";
  PlanOp op;
  op.name = "s";
  op.kind = PlanOpKind::kVariable;
  op.frequency = Frequency::kPerStep;
  op.variable = "s";
  op.outputs = {scalar.logical};
  scalar.ops.push_back(static_cast<int>(plan.ops.size()));
  plan.ops.push_back(op);
  plan.variables.push_back(scalar);
  auto contexts = MakeDeviceContexts(plan.devices);
  auto store = VariableStore::Create(plan, 5, Pointers(contexts));
  ASSERT_TRUE(store.ok()) << store.status();
  const std::vector<double> expected = Expected("v", Shape{6}, "uniform(-3,1)", 5, 0, {{2, 6}});
  EXPECT_EQ((*store)->Shard(1, "v").ToVector<double>(), expected);
  EXPECT_FALSE((*store)->Shard(0, "v").valid());
  EXPECT_EQ((*store)->Shard(0, "s").ToVector<float>(), std::vector<float>{2.5f});
  EXPECT_EQ((*store)->variables().size(), 2u);
  // Shards live in their device's allocator.
  EXPECT_EQ(contexts[1]->allocator()->live_bytes(), 4 * 8);
  EXPECT_EQ(contexts[0]->allocator()->live_bytes(), 4);
}

TEST(VariableStoreTest, ReadLogicalAssemblesFromTheLowestDeviceHoldingEachElement) {
  PhysicalPlan plan = VariablePlan("w", {DataType::kFloat32, Shape{4, 2}}, "zeros", 0,
                                   {{0, {{0, 3}, {0, 2}}}, {1, {{2, 4}, {0, 2}}}}, 2);
  auto contexts = MakeDeviceContexts(plan.devices);
  auto store = VariableStore::Create(plan, 0, Pointers(contexts));
  ASSERT_TRUE(store.ok()) << store.status();
  float* first = (*store)->Shard(0, "w").data<float>();
  float* second = (*store)->Shard(1, "w").data<float>();
  for (int i = 0; i < 6; ++i) first[i] = static_cast<float>(i + 1);
  for (int i = 0; i < 4; ++i) second[i] = static_cast<float>(-(i + 1));
  CpuAllocator allocator;
  auto logical = (*store)->ReadLogical("w", &allocator);
  ASSERT_TRUE(logical.ok()) << logical.status();
  // Row 2 is held by both; device 0 wins.
  EXPECT_EQ(logical->ToVector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6, -3, -4}));
}

TEST(VariableStoreTest, WriteLogicalThenReadLogicalRoundTrips) {
  PhysicalPlan plan =
      VariablePlan("w", {DataType::kFloat32, Shape{3, 4}}, "ones", 0,
                   {{0, {{0, 3}, {0, 2}}}, {1, {{0, 3}, {2, 4}}}, {2, {{1, 2}, {1, 3}}}}, 3);
  auto contexts = MakeDeviceContexts(plan.devices);
  auto store = VariableStore::Create(plan, 0, Pointers(contexts));
  ASSERT_TRUE(store.ok()) << store.status();
  CpuAllocator allocator;
  std::vector<float> values(12);
  for (int i = 0; i < 12; ++i) values[i] = 0.25f * static_cast<float>(i) - 1.0f;
  ASSERT_TRUE(
      (*store)->WriteLogical("w", Tensor::FromVector(&allocator, Shape{3, 4}, values)).ok());
  EXPECT_EQ((*store)->Shard(0, "w").ToVector<float>(),
            (std::vector<float>{values[0], values[1], values[4], values[5], values[8], values[9]}));
  EXPECT_EQ((*store)->Shard(2, "w").ToVector<float>(), (std::vector<float>{values[5], values[6]}));
  auto logical = (*store)->ReadLogical("w", &allocator);
  ASSERT_TRUE(logical.ok()) << logical.status();
  EXPECT_EQ(logical->ToVector<float>(), values);
}

TEST(VariableStoreTest, ReadAndWriteErrors) {
  PhysicalPlan plan =
      VariablePlan("w", {DataType::kFloat32, Shape{2, 3}}, "zeros", 0, {{0, {{0, 2}, {0, 3}}}}, 1);
  auto contexts = MakeDeviceContexts(plan.devices);
  auto store = VariableStore::Create(plan, 0, Pointers(contexts));
  ASSERT_TRUE(store.ok()) << store.status();
  CpuAllocator allocator;
  auto missing = (*store)->ReadLogical("nope", &allocator);
  EXPECT_EQ(missing.status(), absl::NotFoundError("variable 'nope' not found"));
  EXPECT_EQ((*store)->WriteLogical("nope", Tensor(&allocator, DataType::kFloat32, Shape{2, 3})),
            absl::NotFoundError("variable 'nope' not found"));
  EXPECT_EQ((*store)->WriteLogical("w", Tensor(&allocator, DataType::kFloat64, Shape{2, 3})),
            absl::InvalidArgumentError("variable 'w': expected f32[2,3], got f64[2,3]"));
  EXPECT_EQ((*store)->WriteLogical("w", Tensor(&allocator, DataType::kFloat32, Shape{3, 2})),
            absl::InvalidArgumentError("variable 'w': expected f32[2,3], got f32[3,2]"));
  EXPECT_EQ((*store)->WriteLogical("w", Tensor()),
            absl::InvalidArgumentError("variable 'w': expected f32[2,3], got none"));
}

TEST(VariableStoreTest, CreateErrors) {
  PhysicalPlan plan =
      VariablePlan("w", {DataType::kFloat32, Shape{2}}, "magic", 0, {{0, {{0, 2}}}}, 1);
  auto contexts = MakeDeviceContexts(plan.devices);
  auto bad_initializer = VariableStore::Create(plan, 0, Pointers(contexts));
  EXPECT_EQ(bad_initializer.status(),
            absl::InvalidArgumentError(
                "variable 'w': initializer 'magic' is unknown (expected zeros, ones, constant(V), "
                "normal(STD), uniform(A,B), xavier_uniform or kaiming_uniform)"));

  plan.variables[0].initializer = "zeros";
  plan.ops[0].box = {{0, 3}};
  EXPECT_EQ(VariableStore::Create(plan, 0, Pointers(contexts)).status(),
            absl::InvalidArgumentError("variable 'w': op 'w/0': box [0,3) is not inside [2]"));

  EXPECT_EQ(VariableStore::Create(plan, 0, {}).status(),
            absl::InvalidArgumentError(
                "variable store: the plan has 1 device(s) but 0 context(s) were given"));
}

}  // namespace
}  // namespace sbpflow
