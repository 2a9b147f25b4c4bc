//===- ClusterMapTest.cpp - Cluster maps: schema, meaning, layout ---------===//
#include "compiler/ClusterMap/ClusterMap.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace ingot;

static std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

static const char *kGood = R"({
  "name": "pair",
  "device": {"kind": "gpu", "model": "H100", "memory_bytes": 80000000000,
             "peak_bf16_flops": 989.4e12},
  "nodes": 1,
  "devices_per_node": 2,
  "layout": {"stages": 2, "data": 1, "microbatches": 4, "schedule": "1f1b"}
})";

TEST(ClusterMap, ExamplesParse) {
  for (const char *name : {"h100x1", "h100x8", "cpu2", "cpu4"}) {
    std::string path = std::string(INGOT_SOURCE_DIR) + "/examples/clusters/" + name + ".json";
    std::string errors;
    auto map = parseClusterMap(readFile(path), path, errors);
    ASSERT_TRUE(map.has_value()) << errors;
    EXPECT_EQ(map->name, name);
    EXPECT_FALSE(map->binary.empty());
  }
}

TEST(ClusterMap, FieldsAndLayout) {
  std::string errors;
  auto map = parseClusterMap(kGood, "pair.json", errors);
  ASSERT_TRUE(map.has_value()) << errors;
  EXPECT_EQ(map->ranks(), 2);
  EXPECT_EQ(map->deviceMemoryBytes, 80000000000u);
  int64_t stages = 1, data = 1, micro = 1, chunks = 1;
  std::string schedule = "gpipe";
  EXPECT_EQ(checkLayout(*map, stages, data, micro, schedule, chunks), "");
  EXPECT_EQ(stages, 2);
  EXPECT_EQ(micro, 4);
  EXPECT_EQ(schedule, "1f1b");
}

struct BadMap {
  const char *json;
  const char *message;
};

class ClusterMapErrors : public ::testing::TestWithParam<BadMap> {};

TEST_P(ClusterMapErrors, SayWhereAndWhat) {
  std::string errors;
  auto map = parseClusterMap(GetParam().json, "bad.json", errors);
  EXPECT_FALSE(map.has_value());
  EXPECT_NE(errors.find(GetParam().message), std::string::npos) << errors;
  EXPECT_EQ(errors.rfind("bad.json", 0), 0u) << errors;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ClusterMapErrors,
    ::testing::Values(
        BadMap{"{\n  \"name\": \"x\",\n  \"device\": {\"kind\": \"gpu\", \"model\": \"m\"}\n  \"nodes\": 1\n}",
               "bad.json:4:9: error: expecting: , instead got: string constant"},
        BadMap{R"({"name": "x", "device": {"kind": "gpu", "model": "m", "memory_bytes": 1,
                  "peak_bf16_flops": 1}, "gpus": 8})",
               "bad.json:2:50: error: unknown field: gpus"},
        BadMap{R"({"name": "x"})", "bad.json:1:13: error: required field is missing: device"},
        BadMap{R"({"name": "x", "device": {"kind": "gpu", "model": "m", "memory_bytes": "lots"}})",
               "bad.json:1:"},
        BadMap{R"({"name": "x", "device": {"kind": "tpu", "model": "m", "memory_bytes": 1}})",
               "device.kind must be \"gpu\" or \"cpu\", found \"tpu\""},
        BadMap{R"({"name": "x", "device": {"kind": "cpu", "model": "m", "memory_bytes": 0}})",
               "device.memory_bytes must be positive"},
        BadMap{R"({"name": "x", "device": {"kind": "cpu", "model": "m", "memory_bytes": 1},
                  "layout": {"schedule": "pipedream"}})",
               "layout.schedule must be"},
        BadMap{R"({"name": "x", "device": {"kind": "cpu", "model": "m", "memory_bytes": 1},
                  "layout": {"stages": -2}})",
               "layout sizes must be positive"},
        BadMap{"", "bad.json:"},
        BadMap{"[1, 2, 3]", "bad.json:"}));

TEST(ClusterMap, LayoutMustMatchTheRanks) {
  std::string errors;
  auto map = parseClusterMap(kGood, "pair.json", errors);
  ASSERT_TRUE(map.has_value());
  map->layout.data = 2;
  int64_t stages = 1, data = 1, micro = 1, chunks = 1;
  std::string schedule = "1f1b";
  EXPECT_EQ(checkLayout(*map, stages, data, micro, schedule, chunks),
            "stages x data = 2 x 2 = 4 ranks, but the map 'pair' has 2 (1 node x 2)");
  map->layout.data = 1;
  map->layout.microbatches = 1;
  micro = 1;
  EXPECT_NE(checkLayout(*map, stages, data, micro, schedule, chunks)
                .find("needs at least as many micro-batches as stages"),
            std::string::npos);
}
