//===- StartupTest.cpp - The machine against the manifest, without a GPU --===//
//
// The rank count from the launcher's variables, the local rank, the GPU-model rule the cuda
// backend uses, and a fake checkDevice hook standing in for the cuda backend: every mismatch
// stops runTrainer with exit 1 and "startup check: ..." before it reads data or writes a file.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "src/Error.h"
#include "src/GpuModel.h"
#include "src/Startup.h"
#include "src/Trainer.h"

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

const char *const kLauncherVars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE",
                                     "SLURM_NTASKS", "OMPI_COMM_WORLD_LOCAL_RANK",
                                     "MPI_LOCALRANKID", "LOCAL_RANK", "SLURM_LOCALID"};

// Each test starts with no launcher variable set and leaves none behind.
class Startup : public ::testing::Test {
protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static void clear() {
    for (const char *v : kLauncherVars)
      ::unsetenv(v);
  }
};

std::string startupError(const ModelDesc &model) {
  try {
    checkStartup(model);
  } catch (const Error &e) {
    EXPECT_EQ(e.exitCode(), 1);
    return e.what();
  }
  return "";
}

TEST_F(Startup, RankCountFromTheLauncher) {
  EXPECT_EQ(readLaunchEnv().ranks, 1);
  EXPECT_EQ(readLaunchEnv().ranksFrom, "");
  ::setenv("SLURM_NTASKS", "4", 1);
  ::setenv("WORLD_SIZE", "3", 1);
  EXPECT_EQ(readLaunchEnv().ranks, 3); // torchrun's before srun's
  EXPECT_EQ(readLaunchEnv().ranksFrom, "WORLD_SIZE=3");
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  EXPECT_EQ(readLaunchEnv().ranks, 2); // mpirun's first
  ::setenv("LOCAL_RANK", "1", 1);
  EXPECT_EQ(readLaunchEnv().localRank, 1);
  ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  EXPECT_EQ(readLaunchEnv().localRank, 0);
  EXPECT_EQ(readLaunchEnv().localRankFrom, "OMPI_COMM_WORLD_LOCAL_RANK=0");
  for (const char *bad : {"", "two", "2x", "0", "-1", "99999999999999999999"}) {
    ::setenv("OMPI_COMM_WORLD_SIZE", bad, 1);
    try {
      readLaunchEnv();
      ADD_FAILURE() << "accepted OMPI_COMM_WORLD_SIZE='" << bad << "'";
    } catch (const Error &e) {
      EXPECT_EQ(std::string(e.what()), std::string("startup check: the launcher's "
                                                   "OMPI_COMM_WORLD_SIZE='") + bad +
                                           "' is not a positive integer");
    }
  }
}

TEST_F(Startup, OneRankTrainerUnderALauncherOfTwo) {
  LinearModel model; // no cluster map: one rank
  EXPECT_EQ(startupError(model.desc), "");
  ::setenv("WORLD_SIZE", "1", 1);
  EXPECT_EQ(startupError(model.desc), "");
  ::setenv("WORLD_SIZE", "2", 1);
  EXPECT_EQ(startupError(model.desc),
            "startup check: this trainer was compiled for 1 rank (no cluster map), but the "
            "launcher started 2 (WORLD_SIZE=2); start one process, or rebuild it with ingotc "
            "--cluster and a map of 2 ranks");
}

TEST_F(Startup, MapOfTwoRanksStartedAlone) {
  LinearModel model;
  model.desc.clusterName = "cpu2";
  model.desc.deviceKind = "cpu";
  model.desc.deviceModel = "host";
  model.desc.nodes = 1;
  model.desc.devicesPerNode = 2;
  // Started alone, with no launcher variable: left to the Comm bootstrap, which says how to
  // launch it (test/parallel/data-parallel.test); even the device check is not reached.
  int calls = 0;
  static int *counter;
  counter = &calls;
  model.desc.checkDevice = [](const ModelDesc *, int, char *, uint64_t) {
    ++*counter;
    return 0;
  };
  EXPECT_EQ(startupError(model.desc), "");
  EXPECT_EQ(calls, 0);
  // mpirun -np 1, -np 3: the launcher's count is known and wrong.
  ::setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
  EXPECT_EQ(startupError(model.desc),
            "startup check: this trainer was compiled for 2 ranks (cluster map 'cpu2': 1 node(s) "
            "x 2 device(s)), but the launcher started 1 (OMPI_COMM_WORLD_SIZE=1); start it with "
            "2 processes, e.g. mpirun -np 2");
  ::setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  EXPECT_NE(startupError(model.desc).find("but the launcher started 3 (OMPI_COMM_WORLD_SIZE=3)"),
            std::string::npos);
  EXPECT_EQ(calls, 0);
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
  EXPECT_EQ(startupError(model.desc), "");
  EXPECT_EQ(calls, 1); // the device is checked once the rank count fits
  ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", "2", 1);
  EXPECT_EQ(startupError(model.desc),
            "startup check: this process is local rank 2 (OMPI_COMM_WORLD_LOCAL_RANK=2), but the "
            "trainer was compiled for 2 device(s) per node (cluster map 'cpu2': 1 node(s) x 2 "
            "device(s))");
}

TEST_F(Startup, GpuModelRule) {
  EXPECT_TRUE(deviceModelMatches("H100-SXM5-80GB", "NVIDIA H100 80GB HBM3"));
  EXPECT_TRUE(deviceModelMatches("H100-SXM5-80GB", "NVIDIA H100 PCIe"));
  EXPECT_TRUE(deviceModelMatches("h100", "NVIDIA H100 NVL"));
  EXPECT_TRUE(deviceModelMatches("NVIDIA H200", "NVIDIA H200"));
  EXPECT_TRUE(deviceModelMatches("any", "anything at all"));
  EXPECT_TRUE(deviceModelMatches("", "NVIDIA H100 80GB HBM3"));
  EXPECT_TRUE(deviceModelMatches(nullptr, "NVIDIA H100 80GB HBM3"));
  EXPECT_FALSE(deviceModelMatches("A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"));
  EXPECT_FALSE(deviceModelMatches("H200", "NVIDIA H100 80GB HBM3"));
  EXPECT_FALSE(deviceModelMatches("H100", "NVIDIA GH100"));   // a word, not a substring
  EXPECT_FALSE(deviceModelMatches("H100-SXM5-80GB", "NVIDIA H1000"));
  EXPECT_FALSE(deviceModelMatches("-SXM5", "NVIDIA H100 80GB HBM3"));
}

// Stands in for the cuda backend: a node with one "GPU" named kFakeGpu.
const char *kFakeGpu = "NVIDIA H100 80GB HBM3";
int checkedLocalRank = -1;
int fakeCheckDevice(const ModelDesc *model, int localRank, char *message, uint64_t bytes) {
  checkedLocalRank = localRank;
  if (!deviceModelMatches(model->deviceModel, kFakeGpu)) {
    std::snprintf(message, bytes, "the cluster map '%s' names the GPU model '%s', but GPU %d is "
                  "'%s'", model->clusterName, model->deviceModel, localRank, kFakeGpu);
    return 1;
  }
  return 0;
}

TEST_F(Startup, DeviceMismatchStopsBeforeAnyWork) {
  LinearModel model;
  model.desc.clusterName = "a100x1";
  model.desc.deviceKind = "gpu";
  model.desc.deviceModel = "A100-SXM4-80GB";
  model.desc.checkDevice = fakeCheckDevice;
  std::string dir = makeTempDir();
  writeShard(dir + "/train_000.bin", patternTokens(200, 0));
  Args args({"--data", dir + "/train_*.bin", "--steps", "2", "--ckpt-dir", dir + "/ck", "--log",
             dir + "/log.jsonl"});
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  int rc = runTrainer(model.desc, args.argc(), args.argv());
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(checkedLocalRank, 0);
  EXPECT_EQ(err, "error: startup check: the cluster map 'a100x1' names the GPU model "
                 "'A100-SXM4-80GB', but GPU 0 is 'NVIDIA H100 80GB HBM3'\n");
  EXPECT_EQ(out, "");
  EXPECT_FALSE(std::filesystem::exists(dir + "/ck"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/log.jsonl"));

  // The right model passes, and --describe never checks (it runs anywhere).
  model.desc.deviceModel = "H100-SXM5-80GB";
  EXPECT_EQ(startupError(model.desc), "");
  model.desc.deviceModel = "A100-SXM4-80GB";
  Args describe({"--describe"});
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(runTrainer(model.desc, describe.argc(), describe.argv()), 0);
  ::testing::internal::GetCapturedStdout();
}

} // namespace
