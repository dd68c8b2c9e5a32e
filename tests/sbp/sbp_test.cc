// SBP value types: text syntax (with DTensor aliases), validation, placements
// and balanced shard boxes.
#include "sbp/sbp.h"

#include "gtest/gtest.h"
#include "sbp/placement.h"

namespace sbpflow {
namespace {

TEST(SbpTest, ParsesTextAndDTensorAliases) {
  EXPECT_EQ(NdSbpToString(*ParseNdSbp("S(0)")), "S(0)");
  EXPECT_EQ(NdSbpToString(*ParseNdSbp("(S(0),B)")), "(S(0),B)");
  EXPECT_EQ(NdSbpToString(*ParseNdSbp(" ( S(1) , P ) ")), "(S(1),P)");
  EXPECT_EQ(NdSbpToString(*ParseNdSbp("(Shard(2),Replicate(),Partial())")), "(S(2),B,P)");
  EXPECT_EQ(NdSbpToString(*ParseNdSbp("P(max)")), "P(max)");
  EXPECT_EQ(NdSbpToString(*ParseNdSbp("Partial(sum)")), "P");
}

TEST(SbpTest, RejectsUnknownText) {
  for (const char* text :
       {"X", "S", "S(-1)", "S(a)", "Shard()", "Replicate", "P(min)", "(S(0),Q)", ""}) {
    auto parsed = ParseNdSbp(text);
    EXPECT_FALSE(parsed.ok()) << text;
  }
  EXPECT_EQ(ParseNdSbp("Q").status().message(),
            "unknown SBP 'Q' (expected S(i), B, P, P(max), Shard(i), Replicate() or Partial())");
  EXPECT_EQ(ParseNdSbp("(S(0),Q)").status().message(),
            "in '(S(0),Q)': unknown SBP 'Q' (expected S(i), B, P, P(max), Shard(i), Replicate() "
            "or Partial())");
}

TEST(SbpTest, ValidatesAgainstTensorAndMesh) {
  EXPECT_TRUE(ValidateNdSbp(*ParseNdSbp("(S(1),B)"), 2, 2).ok());
  EXPECT_EQ(ValidateNdSbp(*ParseNdSbp("(S(2),B)"), 2, 2).message(),
            "S(2) splits dimension 2 of a rank-2 tensor");
  EXPECT_EQ(ValidateNdSbp(*ParseNdSbp("S(0)"), 2, 2).message(), "S(0) has 1 axes, the mesh has 2");
}

TEST(PlacementTest, RowMajorCoordinatesAndLines) {
  auto placement = Placement::Parse("cpu:4-9", "2x3", "dp,tp");
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->Coordinate(4), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(placement->RankOf({1, 2}), 5);
  EXPECT_EQ(placement->Line(4, 0), (std::vector<int>{1, 4}));
  EXPECT_EQ(placement->Line(4, 1), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(placement->AxisIndex("tp"), 1);
  EXPECT_EQ(placement->ToString(), "cpu:4-9 2x3 (dp,tp)");
}

TEST(PlacementTest, ErrorsNameWhatIsWrong) {
  EXPECT_EQ(Placement::Parse("cpu:0-2", "2x2", "").status().message(),
            "mesh 2x2 has 4 positions, got 3 devices");
  EXPECT_EQ(Placement::Parse("cpu:0-3", "2x2", "dp").status().message(),
            "mesh 2x2 has 2 axes, got 1 axis names");
  EXPECT_EQ(Placement::Parse("cpu:0-3", "2x2", "dp,dp").status().message(),
            "mesh axis names must be distinct and non-empty, got 'dp,dp'");
  EXPECT_EQ(Placement::Parse("cpu:0-3", "2x0", "").status().message(),
            "mesh '2x0' is not like 4 or 2x2 (positive extents)");
  EXPECT_EQ(Placement::Parse("tpu:0", "", "").status().message(),
            "device list 'tpu:0': unknown device type 'tpu'");
  EXPECT_EQ(Placement::Parse("cpu:0,cpu:0", "", "").status().message(),
            "device list 'cpu:0,cpu:0': cpu:0 is listed twice");
  EXPECT_EQ(ParseDeviceList("cpu:0-100000").status(),
            absl::InvalidArgumentError(
                "device list 'cpu:0-100000': names more than 4096 devices"));
  EXPECT_EQ(ParseDeviceList("cpu:0-4095").value().size(), 4096u);
}

TEST(PlacementTest, BalancedSplitsApplyMeshAxisByMeshAxis) {
  auto square = *Placement::Parse("cpu:0-3", "2x2", "");
  auto line = *Placement::Parse("cpu:0-3", "", "");
  const Shape shape{7, 10};
  // S(0) over 4: 2,2,2,1 rows.
  EXPECT_EQ(BoxToString(ShardBox(shape, {Sbp::Split(0)}, line, 3)), "[6,7)x[0,10)");
  // (S(0),S(0)): 4|3 rows, then 2|2 and 2|1: the last device gets row 6.
  EXPECT_EQ(BoxToString(ShardBox(shape, {Sbp::Split(0), Sbp::Split(0)}, square, 2)),
            "[4,6)x[0,10)");
  EXPECT_EQ(BoxToString(ShardBox(shape, {Sbp::Split(0), Sbp::Split(0)}, square, 3)),
            "[6,7)x[0,10)");
  // 9 rows differ: flat 3,2,2,2 vs nested (5: 3,2) (4: 2,2).
  EXPECT_EQ(BoxToString(ShardBox(Shape{9, 1}, {Sbp::Split(0)}, line, 1)), "[3,5)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{9, 1}, {Sbp::Split(0), Sbp::Split(0)}, square, 1)),
            "[3,5)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{11, 1}, {Sbp::Split(0)}, line, 1)), "[3,6)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{11, 1}, {Sbp::Split(0), Sbp::Split(0)}, square, 1)),
            "[3,6)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{11, 1}, {Sbp::Split(0)}, line, 2)), "[6,9)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{11, 1}, {Sbp::Split(0), Sbp::Split(0)}, square, 2)),
            "[6,9)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{10, 1}, {Sbp::Split(0)}, line, 1)), "[3,6)x[0,1)");
  EXPECT_EQ(BoxToString(ShardBox(Shape{10, 1}, {Sbp::Split(0), Sbp::Split(0)}, square, 1)),
            "[3,5)x[0,1)");
  // Zero-size shards are legal.
  EXPECT_EQ(BoxToString(ShardBox(Shape{2, 3}, {Sbp::Split(0)}, line, 3)), "[2,2)x[0,3)");
  // Broadcast and partial hold the whole tensor.
  EXPECT_EQ(BoxToString(ShardBox(shape, {Sbp::PartialSum(), Sbp::Broadcast()}, square, 3)),
            "[0,7)x[0,10)");
}

TEST(NdSbpPatternTest, OpenAxesParsePrintAndMatch) {
  auto pattern = ParseNdSbpPattern("(*, B)");
  ASSERT_TRUE(pattern.ok()) << pattern.status();
  EXPECT_EQ(NdSbpPatternToString(*pattern), "(*,B)");
  EXPECT_TRUE(PatternMatches(*pattern, {Sbp::Split(0), Sbp::Broadcast()}));
  EXPECT_TRUE(PatternMatches(*pattern, {Sbp::PartialSum(), Sbp::Broadcast()}));
  EXPECT_FALSE(PatternMatches(*pattern, {Sbp::Split(0), Sbp::Split(1)}));
  EXPECT_FALSE(PatternMatches(*pattern, {Sbp::Broadcast()}));
  EXPECT_EQ(NdSbpPatternToString(*ParseNdSbpPattern("S(1)")), "S(1)");
  EXPECT_EQ(NdSbpPatternToString(*ParseNdSbpPattern("*")), "*");
  // A layout is never open.
  EXPECT_EQ(ParseNdSbp("(*,B)").status(),
            absl::InvalidArgumentError("in '(*,B)': unknown SBP '*' (expected S(i), B, P, "
                                       "P(max), Shard(i), Replicate() or Partial())"));
  EXPECT_EQ(ValidateNdSbpPattern(*ParseNdSbpPattern("(*,S(3))"), 2, 2),
            absl::InvalidArgumentError("S(3) splits dimension 3 of a rank-2 tensor"));
  EXPECT_EQ(ValidateNdSbpPattern(*ParseNdSbpPattern("(*,B)"), 2, 1),
            absl::InvalidArgumentError("(*,B) has 2 axes, the mesh has 1"));
}

}  // namespace
}  // namespace sbpflow
