//===- Startup.h - The machine against the manifest, before any work -*- C++ -*-===//
//
// A trainer is compiled for one cluster (DESIGN.md, "The executable"): ModelDesc's startup
// block names the map, its device kind and model, nodes and devices per node. Before it opens
// a data file or allocates its arena, the trainer checks:
//   - the rank count the launcher started (from its environment, below) against nodes x
//     devices per node (a multi-rank trainer started with no launcher variable at all is left
//     to the communication bootstrap, which says how to launch it);
//   - through ModelDesc::checkDevice (the cuda backend; null on the host target, which never
//     links CUDA): the visible GPU count, this rank's GPU model, its free memory against the
//     arena, and the driver's CUDA version against the toolkit's the trainer was built with.
// A mismatch stops the trainer with "startup check: ..." naming what was expected and what was
// found, exit status 1 (docs/runtime.md, "Startup checks").
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_STARTUP_H
#define INGOT_RT_STARTUP_H

#include "ingot/rt/Model.h"

#include <cstdint>
#include <string>

namespace ingot::rt {

/// What the launcher says about this process.
struct LaunchEnv {
  int64_t ranks = 1;       // processes in the job
  std::string ranksFrom;   // "WORLD_SIZE=2", or "" when no launcher variable is set
  int localRank = 0;       // this process's index on its node (it picks the GPU)
  std::string localRankFrom;
};

/// The rank count from the first of OMPI_COMM_WORLD_SIZE (Open MPI's mpirun), PMI_SIZE
/// (MPICH, Intel MPI), WORLD_SIZE (torchrun) and SLURM_NTASKS (srun) that is set, else 1; the
/// local rank likewise from OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, LOCAL_RANK and
/// SLURM_LOCALID, else 0. Throws Error (exit 1) naming a variable whose value is not a count.
LaunchEnv readLaunchEnv();

/// The checks above. Throws Error (exit 1) with "startup check: ..." on a mismatch.
void checkStartup(const ModelDesc &model);

} // namespace ingot::rt

#endif // INGOT_RT_STARTUP_H
