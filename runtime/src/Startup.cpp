//===- Startup.cpp - The machine against the manifest, before any work ----===//
#include "Startup.h"

#include "Error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ingot::rt {

// The first of `names` that is set: its value parsed as an integer >= minimum. Returns false
// when none is set.
static bool readCount(const char *const *names, int64_t minimum, int64_t *value,
                      std::string *from) {
  for (; *names; ++names) {
    const char *text = std::getenv(*names);
    if (!text)
      continue;
    errno = 0;
    char *end = nullptr;
    long long v = std::strtoll(text, &end, 10);
    if (!*text || *end != '\0' || errno != 0 || v < minimum)
      throw Error(kExitError, format("startup check: the launcher's %s='%s' is not %s", *names,
                                     text, minimum > 0 ? "a positive integer"
                                                       : "a non-negative integer"));
    *value = v;
    *from = format("%s=%lld", *names, v);
    return true;
  }
  return false;
}

static const char *const kRankCountVars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "WORLD_SIZE",
                                             "SLURM_NTASKS", nullptr};
static const char *const kLocalRankVars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                             "LOCAL_RANK", "SLURM_LOCALID", nullptr};

LaunchEnv readLaunchEnv() {
  LaunchEnv env;
  readCount(kRankCountVars, 1, &env.ranks, &env.ranksFrom);
  int64_t local = 0;
  if (readCount(kLocalRankVars, 0, &local, &env.localRankFrom))
    env.localRank = int(local);
  return env;
}

void checkStartup(const ModelDesc &model) {
  const int64_t nodes = model.nodes > 0 ? model.nodes : 1;
  const int64_t perNode = model.devicesPerNode > 0 ? model.devicesPerNode : 1;
  const int64_t expected = nodes * perNode;
  const bool hasMap = model.clusterName && *model.clusterName;
  const std::string compiledFor =
      hasMap ? format("cluster map '%s': %lld node(s) x %lld device(s)", model.clusterName,
                      (long long)nodes, (long long)perNode)
             : std::string("no cluster map");

  LaunchEnv env = readLaunchEnv();
  // A multi-rank trainer started with no launcher variable at all is left to the communication
  // bootstrap (Comm.h), which refuses it (exit 4) saying how to start it for its backend
  // (mpirun, srun, or torchrun-style RANK and WORLD_SIZE): one message for one mistake.
  if (env.ranksFrom.empty() && expected > 1)
    return;
  if (env.ranks != expected) {
    std::string found = env.ranksFrom.empty()
                            ? std::string("this process was started alone: none of "
                                          "OMPI_COMM_WORLD_SIZE, PMI_SIZE, WORLD_SIZE, "
                                          "SLURM_NTASKS is set")
                            : env.ranksFrom;
    std::string fix = expected == 1
                          ? format("start one process, or rebuild it with ingotc --cluster and "
                                   "a map of %lld ranks", (long long)env.ranks)
                          : format("start it with %lld processes, e.g. mpirun -np %lld",
                                   (long long)expected, (long long)expected);
    throw Error(kExitError,
                format("startup check: this trainer was compiled for %lld rank%s (%s), but the "
                       "launcher started %lld (%s); %s",
                       (long long)expected, expected == 1 ? "" : "s", compiledFor.c_str(),
                       (long long)env.ranks, found.c_str(), fix.c_str()));
  }
  if (env.localRank >= perNode)
    throw Error(kExitError,
                format("startup check: this process is local rank %d (%s), but the trainer was "
                       "compiled for %lld device(s) per node (%s)", env.localRank,
                       env.localRankFrom.c_str(), (long long)perNode, compiledFor.c_str()));

  if (model.checkDevice) {
    char message[1024] = {};
    if (model.checkDevice(&model, env.localRank, message, sizeof(message)) != 0)
      throw Error(kExitError, format("startup check: %s", message[0] ? message
                                                                     : "the device does not fit "
                                                                       "(no reason given)"));
  }
}

} // namespace ingot::rt
