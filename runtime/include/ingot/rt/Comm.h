//===- Comm.h - The runtime's communication layer ----------------*- C++ -*-===//
//
// Everything ranks say to each other goes through one `Comm`: point-to-point transfers between
// pipeline stages, the data-parallel gradient reduction, and the small all-ranks decisions
// (non-finite step, global norm pieces). Three backends implement it:
//   single  one rank, no MPI anywhere (a one-rank trainer must start without an MPI runtime)
//   mpi     the host target under mpirun (runtime/src/CommMpi.cpp, libingot_rt_mpi.a)
//   nccl    the cuda target (runtime/cuda/CommNccl.cu), bootstrapped over MPI or TCP
//
// Contract, for every operation:
//   - It blocks until done or until the collective timeout (setTimeout) has passed since it
//     began. A timeout or a backend error throws CommError; nothing ever hangs. The message
//     names this rank, the peer or group, the stage, the step (setContext) and `what`, the
//     caller's own words for the operation ("all-reduce of gradient bucket 3",
//     "send of activations of micro-batch 2 to stage 1").
//   - Every rank of a group calls the same collectives on it in the same order.
//   - Buffers live where the target's arena lives: host memory (host target) or device memory
//     (cuda target; there the sums and broadcast also take host buffers, staged through device
//     memory, for the trainer's few host values). Scalars (anyTrue's bool) are host values.
//   - Sums are deterministic: the result is bit-identical on every rank of the group and does
//     not depend on timing or on the backend's algorithm choice. Element i of the result is
//       ((x[r0][i] + x[r1][i]) + x[r2][i]) + ...      for the group's ranks r0 < r1 < r2 < ...
//     i.e. the sequential sum in ascending rank order, in the buffer's own type. This is the
//     order in which a one-rank run accumulates its micro-batches, which is what makes a
//     data-parallel run reproduce a one-rank run bit for bit (runtime/src/CommReduce.h).
//
// After a CommError the Comm is unusable: the caller reports the error and calls abortJob(),
// which ends every process of the job (MPI_Abort, ncclCommAbort), so no peer is left waiting.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_COMM_H
#define INGOT_RT_COMM_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ingot::rt {

/// The exit status of a process whose communication failed or timed out (DESIGN.md: 0 done,
/// 1 bad input or I/O, 2 bad flags, 3 non-finite).
constexpr int kExitComm = 4;

/// A communication operation that failed or did not finish before its deadline. what() is the
/// whole message, e.g. "rank 0 (stage 0, step 17): all-reduce of gradient bucket 3 over ranks
/// {0,1}: timed out after 300 s waiting for rank 1".
class CommError : public std::runtime_error {
public:
  explicit CommError(const std::string &message) : std::runtime_error(message) {}
};

/// Ascending world ranks that take part in a collective together. Made once at startup with
/// Comm::makeGroup (the NCCL backend builds a communicator for it); world() is every rank.
class Group {
public:
  Group() = default;
  const std::vector<int> &ranks() const { return ranks_; }
  int size() const { return int(ranks_.size()); }
  /// Position of world rank `rank` in the group, or -1.
  int indexOf(int rank) const {
    for (size_t i = 0; i < ranks_.size(); ++i)
      if (ranks_[i] == rank)
        return int(i);
    return -1;
  }
  /// "{0,2,4}" for messages.
  std::string describe() const;
  /// The backend's handle (an index into its communicators).
  int id() const { return id_; }

private:
  friend class Comm;
  std::vector<int> ranks_;
  int id_ = -1;
};

class Comm {
public:
  virtual ~Comm();
  Comm(const Comm &) = delete;
  Comm &operator=(const Comm &) = delete;

  virtual const char *backend() const = 0; // "single", "mpi", "nccl"
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Every rank, ascending.
  const Group &world() const { return world_; }

  /// The deadline of each operation, in seconds (--collective-timeout). Must be > 0.
  void setTimeout(double seconds) { timeoutSeconds_ = seconds; }
  double timeout() const { return timeoutSeconds_; }
  /// What messages say this rank is doing: its pipeline stage and the optimizer step (0 before
  /// the first step, e.g. during startup).
  void setContext(int stage, int64_t step) {
    stage_ = stage;
    step_ = step;
  }

  /// A group of `ranks` (ascending, distinct, each < size(), containing this rank or not).
  /// Collective over EVERY rank of the world, called in the same order on each; do it at
  /// startup. Throws CommError on bad ranks.
  Group makeGroup(const std::vector<int> &ranks, const std::string &what);

  /// Sends `bytes` bytes to world rank `peer`; matched by the peer's recv with this rank and the
  /// same tag. Returns once the buffer may be reused.
  virtual void send(const void *data, size_t bytes, int peer, int tag, const std::string &what) = 0;
  /// Receives exactly `bytes` bytes from world rank `peer` with `tag`.
  virtual void recv(void *data, size_t bytes, int peer, int tag, const std::string &what) = 0;

  /// In-place deterministic sum over `group` (see the contract above). Every member passes the
  /// same count. A rank outside the group must not call it.
  virtual void allReduceSum(float *data, size_t count, const Group &group,
                            const std::string &what) = 0;
  virtual void allReduceSum(double *data, size_t count, const Group &group,
                            const std::string &what) = 0;
  /// Copies `bytes` bytes from world rank `root` (a member) to every member of `group`.
  virtual void broadcast(void *data, size_t bytes, int root, const Group &group,
                         const std::string &what) = 0;
  /// Returns once every member has entered it.
  virtual void barrier(const Group &group, const std::string &what) = 0;
  /// True on every member if `value` is true on any member: the one decision all ranks take
  /// together (skip or stop on a non-finite step).
  virtual bool anyTrue(bool value, const Group &group, const std::string &what) = 0;

  /// Ends every process of the job with `exitCode` (after a CommError, or any error on one
  /// rank that the others cannot know about). Never returns.
  [[noreturn]] virtual void abortJob(int exitCode) = 0;

protected:
  Comm(int rank, int size);
  /// Builds the backend's side of a new group (the NCCL backend: a communicator). `group` has
  /// its ranks and id set. Collective over the world.
  virtual void createGroup(Group &group, const std::string &what) = 0;
  /// "rank 0 (stage 0, step 17): <what> <detail>": the start of every CommError message.
  std::string where(const std::string &what) const;
  /// Throws CommError naming this rank and the context.
  [[noreturn]] void fail(const std::string &what, const std::string &detail) const;
  /// Throws CommError unless `group` is a group of this Comm and this rank is a member.
  void checkMember(const Group &group, const std::string &what) const;
  /// Test hook INGOT_STALL_RANK=R: rank R sleeps forever on entering its first operation (a
  /// rank that never joins), so tests can show the others' watchdog (test/parallel/stall.test).
  /// Backends call it first thing in every operation.
  void stallIfAsked();

  int rank_, size_;
  double timeoutSeconds_ = 300;
  int stage_ = 0;
  int64_t step_ = 0;
  Group world_;
  int groups_ = 0; // groups made so far (world is 0)
  int stallRank_ = -2; // -2: INGOT_STALL_RANK not read yet; -1: no stall
};

/// The one-rank Comm: every collective is the identity, send/recv have no peer (they fail).
std::unique_ptr<Comm> makeSingleComm();

/// What a backend needs to start. Filled by the trainer from its layout and flags.
struct CommOptions {
  int ranks = 1;                 // the layout's rank count; the launcher's must equal it
  double timeoutSeconds = 300;   // --collective-timeout; bounds the startup too
  int *argc = nullptr;           // main's, for MPI_Init
  char ***argv = nullptr;
  // The cuda target's TCP rendezvous when not launched by mpirun/srun (as torchrun): rank and
  // world size from RANK and WORLD_SIZE, the device from LOCAL_RANK.
  std::string masterAddr;        // --master-addr (else MASTER_ADDR)
  int masterPort = 0;            // --master-port (else MASTER_PORT)
};

/// How a trainer makes its Comm when the layout has more than one rank: set in ModelDesc by the
/// generated code (makeMpiComm for host, makeNcclComm for cuda), so that one-rank trainers
/// never link or load MPI or NCCL. Throws CommError when the job cannot start as compiled.
using CommFactory = std::unique_ptr<Comm> (*)(const CommOptions &options);

/// The host target's backend (libingot_rt_mpi.a; the trainer links -lmpi).
std::unique_ptr<Comm> makeMpiComm(const CommOptions &options);
/// The cuda target's backend (libingot_rt_nccl.a; links -lnccl, and MPI for its bootstrap).
std::unique_ptr<Comm> makeNcclComm(const CommOptions &options);

} // namespace ingot::rt

#endif // INGOT_RT_COMM_H
