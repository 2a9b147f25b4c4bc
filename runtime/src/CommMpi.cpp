//===- CommMpi.cpp - The host target's Comm over MPI ----------------------===//
//
// Built into libingot_rt_mpi.a, which ingotc links (with -lmpi) only into trainers whose layout
// has more than one rank: a one-rank trainer has no MPI symbol and starts where no MPI runtime
// is installed.
//
// Nothing blocks inside MPI. Every operation posts nonblocking requests (MPI_Isend/MPI_Irecv)
// and polls them with MPI_Testall against the deadline (--collective-timeout), so a peer that
// never comes makes this rank fail with a message naming the peer, instead of hanging. Errors
// come back as return codes (MPI_ERRORS_RETURN) and are reported the same way.
//
// Collectives are built from point-to-point messages on a private communicator (a duplicate of
// MPI_COMM_WORLD), so that a group needs no MPI communicator of its own (making one is a
// blocking collective) and so that the sum order is ours, not the MPI library's:
//   all-reduce over members m0 < m1 < ... < m(n-1): the buffer is cut into n chunks; member i
//   receives chunk i from every member and sums it in ascending member order
//   (((x0 + x1) + x2) + ...), then sends the sum to every member. Each chunk is summed by
//   exactly one rank, so every rank ends with the same bits, and the order never depends on
//   timing. Traffic per rank: 2 (n-1)/n of the buffer, as a ring all-reduce.
//
//===----------------------------------------------------------------------===//
#include "ingot/rt/Comm.h"
#include "CommReduce.h"

// The C API only: the C++ bindings (deprecated) would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace ingot::rt {
namespace {

double monotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string mpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, size_t(length));
}

// Messages larger than this are split: MPI counts are int.
constexpr size_t kMaxMessageBytes = size_t(1) << 30;

// Tags on the collective communicator: each group has its own pair, so collectives of
// different groups that share ranks can never match each other's messages.
int collectiveTag(int groupId, int phase) { return 2 * groupId + phase; }

class MpiComm final : public Comm {
public:
  MpiComm(int rank, int size, MPI_Comm p2p, MPI_Comm collective)
      : Comm(rank, size), p2p_(p2p), collective_(collective) {}

  const char *backend() const override { return "mpi"; }

  void send(const void *data, size_t bytes, int peer, int tag, const std::string &what) override {
    stallIfAsked();
    checkPeer(peer, what);
    Pending pending(*this, what, monotonicSeconds());
    postSend(pending, p2p_, data, bytes, peer, tag, "send to rank " + std::to_string(peer));
    pending.wait();
  }

  void recv(void *data, size_t bytes, int peer, int tag, const std::string &what) override {
    stallIfAsked();
    checkPeer(peer, what);
    Pending pending(*this, what, monotonicSeconds());
    postRecv(pending, p2p_, data, bytes, peer, tag, "receive from rank " + std::to_string(peer));
    pending.wait();
  }

  void allReduceSum(float *data, size_t count, const Group &group,
                    const std::string &what) override {
    allReduce(data, count, group, what);
  }
  void allReduceSum(double *data, size_t count, const Group &group,
                    const std::string &what) override {
    allReduce(data, count, group, what);
  }

  void broadcast(void *data, size_t bytes, int root, const Group &group,
                 const std::string &what) override {
    stallIfAsked();
    checkMember(group, what);
    if (group.indexOf(root) < 0)
      fail(what, "the broadcast root, rank " + std::to_string(root) +
                     ", is not a member of the group " + group.describe());
    Pending pending(*this, what + " over ranks " + group.describe(), monotonicSeconds());
    int tag = collectiveTag(group.id(), 0);
    if (rank_ == root) {
      for (int member : group.ranks())
        if (member != root)
          postSend(pending, collective_, data, bytes, member, tag,
                   "broadcast to rank " + std::to_string(member));
    } else {
      postRecv(pending, collective_, data, bytes, root, tag,
               "broadcast from rank " + std::to_string(root));
    }
    pending.wait();
  }

  void barrier(const Group &group, const std::string &what) override {
    anyTrue(false, group, what);
  }

  bool anyTrue(bool value, const Group &group, const std::string &what) override {
    stallIfAsked();
    checkMember(group, what);
    // Gathered at the group's first member, decided there, sent back: 2 (n-1) one-byte messages.
    const int root = group.ranks().front();
    std::string whatOver = what + " over ranks " + group.describe();
    uint8_t mine = value ? 1 : 0;
    uint8_t decision = mine;
    if (rank_ == root) {
      std::vector<uint8_t> votes(size_t(group.size()), 0);
      Pending gather(*this, whatOver, monotonicSeconds());
      for (int i = 1; i < group.size(); ++i)
        postRecv(gather, collective_, &votes[size_t(i)], 1, group.ranks()[size_t(i)],
                 collectiveTag(group.id(), 0),
                 "vote from rank " + std::to_string(group.ranks()[size_t(i)]));
      gather.wait();
      for (uint8_t v : votes)
        decision |= v;
      Pending scatter(*this, whatOver, monotonicSeconds());
      for (int i = 1; i < group.size(); ++i)
        postSend(scatter, collective_, &decision, 1, group.ranks()[size_t(i)],
                 collectiveTag(group.id(), 1),
                 "decision to rank " + std::to_string(group.ranks()[size_t(i)]));
      scatter.wait();
    } else {
      Pending exchange(*this, whatOver, monotonicSeconds());
      postSend(exchange, collective_, &mine, 1, root, collectiveTag(group.id(), 0),
               "vote to rank " + std::to_string(root));
      postRecv(exchange, collective_, &decision, 1, root, collectiveTag(group.id(), 1),
               "decision from rank " + std::to_string(root));
      exchange.wait();
    }
    return decision != 0;
  }

  [[noreturn]] void abortJob(int exitCode) override {
    std::fflush(stdout);
    std::fflush(stderr);
    // Ends every process that mpirun started, wherever it is waiting.
    MPI_Abort(MPI_COMM_WORLD, exitCode);
    std::_Exit(exitCode);
  }

  ~MpiComm() override {
    MPI_Comm_free(&p2p_);
    MPI_Comm_free(&collective_);
    MPI_Finalize();
  }

protected:
  void createGroup(Group &, const std::string &) override {}

private:
  /// The requests of one operation, completed together against one deadline.
  class Pending {
  public:
    Pending(MpiComm &comm, std::string what, double start)
        : comm_(comm), what_(std::move(what)), deadline_(start + comm.timeout()) {}
    void add(MPI_Request request, std::string label, size_t bytes, bool isRecv) {
      requests_.push_back(request);
      labels_.push_back(std::move(label));
      bytes_.push_back(bytes);
      isRecv_.push_back(isRecv);
    }
    const std::string &what() const { return what_; }
    /// Polls until every request completes; throws CommError at the deadline or on an error,
    /// naming the peers still missing.
    void wait() {
      std::vector<MPI_Status> statuses(requests_.size());
      int pause = 0;
      for (;;) {
        int done = 0;
        int rc = MPI_Testall(int(requests_.size()), requests_.data(), &done, statuses.data());
        if (rc == MPI_ERR_IN_STATUS) {
          for (size_t i = 0; i < statuses.size(); ++i)
            if (statuses[i].MPI_ERROR != MPI_SUCCESS && statuses[i].MPI_ERROR != MPI_ERR_PENDING)
              comm_.fail(what_, labels_[i] + " failed: " + mpiErrorText(statuses[i].MPI_ERROR));
        }
        if (rc != MPI_SUCCESS)
          comm_.fail(what_, "MPI_Testall failed: " + mpiErrorText(rc));
        if (done)
          break;
        if (monotonicSeconds() > deadline_)
          timeout();
        // Spin briefly (a fast peer answers in microseconds), then yield the core: ranks are
        // often oversubscribed on CI machines.
        if (++pause > 1000)
          std::this_thread::sleep_for(std::chrono::microseconds(pause > 20000 ? 1000 : 50));
      }
      for (size_t i = 0; i < statuses.size(); ++i) {
        if (!isRecv_[i])
          continue;
        int count = 0;
        MPI_Get_count(&statuses[i], MPI_BYTE, &count);
        if (size_t(count) != bytes_[i])
          comm_.fail(what_, labels_[i] + ": expected " + std::to_string(bytes_[i]) +
                                " bytes, received " + std::to_string(count) +
                                " (the ranks' plans disagree)");
      }
      requests_.clear();
      labels_.clear();
      bytes_.clear();
      isRecv_.clear();
    }

  private:
    [[noreturn]] void timeout() {
      std::string missing;
      for (size_t i = 0; i < requests_.size(); ++i) {
        int done = 0;
        if (requests_[i] != MPI_REQUEST_NULL)
          MPI_Test(&requests_[i], &done, MPI_STATUS_IGNORE);
        if (requests_[i] == MPI_REQUEST_NULL || done)
          continue;
        if (missing.find(labels_[i]) == std::string::npos)
          missing += (missing.empty() ? "" : "; ") + labels_[i];
        // A receive left posted would write into the caller's buffer whenever the late peer
        // sends; cancelled, it completes here. (Sends cannot be cancelled portably; the job is
        // about to end anyway.)
        if (isRecv_[i]) {
          MPI_Cancel(&requests_[i]);
          MPI_Wait(&requests_[i], MPI_STATUS_IGNORE);
        }
      }
      char seconds[32];
      std::snprintf(seconds, sizeof(seconds), "%g", comm_.timeout());
      comm_.fail(what_, std::string("timed out after ") + seconds +
                            " s (--collective-timeout); still waiting for: " + missing);
    }

    MpiComm &comm_;
    std::string what_;
    double deadline_;
    std::vector<MPI_Request> requests_;
    std::vector<std::string> labels_;
    std::vector<size_t> bytes_;
    std::vector<bool> isRecv_;
  };

  void checkPeer(int peer, const std::string &what) const {
    if (peer < 0 || peer >= size_ || peer == rank_)
      fail(what, "no such peer: rank " + std::to_string(peer) + " (this job has ranks 0.." +
                     std::to_string(size_ - 1) + ", and this is rank " + std::to_string(rank_) +
                     ")");
  }

  void postSend(Pending &pending, MPI_Comm comm, const void *data, size_t bytes, int peer,
                int tag, const std::string &label) {
    const char *p = static_cast<const char *>(data);
    size_t sent = 0;
    do {
      size_t piece = std::min(bytes - sent, kMaxMessageBytes);
      MPI_Request request;
      int rc = MPI_Isend(p + sent, int(piece), MPI_BYTE, peer, tag, comm, &request);
      if (rc != MPI_SUCCESS)
        fail(pending.what(), "MPI_Isend (" + label + ") failed: " + mpiErrorText(rc));
      pending.add(request, label, piece, false);
      sent += piece;
    } while (sent < bytes);
  }

  void postRecv(Pending &pending, MPI_Comm comm, void *data, size_t bytes, int peer, int tag,
                const std::string &label) {
    char *p = static_cast<char *>(data);
    size_t received = 0;
    do {
      size_t piece = std::min(bytes - received, kMaxMessageBytes);
      MPI_Request request;
      int rc = MPI_Irecv(p + received, int(piece), MPI_BYTE, peer, tag, comm, &request);
      if (rc != MPI_SUCCESS)
        fail(pending.what(), "MPI_Irecv (" + label + ") failed: " + mpiErrorText(rc));
      pending.add(request, label, piece, true);
      received += piece;
    } while (received < bytes);
  }

  template <typename T>
  void allReduce(T *data, size_t count, const Group &group, const std::string &what) {
    stallIfAsked();
    checkMember(group, what);
    const int n = group.size();
    if (n == 1 || count == 0)
      return;
    const int me = group.indexOf(rank_);
    auto begin = [&](int i) { return chunkBegin(count, n, i); };
    const size_t myBegin = begin(me), myCount = begin(me + 1) - myBegin;
    std::string whatOver = what + " over ranks " + group.describe();

    // Reduce-scatter: every member's chunk `me` comes here (member-major, ours copied in place);
    // ours goes to each chunk's owner.
    scratch_.resize(std::max(scratch_.size(), size_t(n) * myCount * sizeof(T)));
    T *contributions = reinterpret_cast<T *>(scratch_.data());
    std::memcpy(contributions + size_t(me) * myCount, data + myBegin, myCount * sizeof(T));
    {
      Pending pending(*this, whatOver, monotonicSeconds());
      for (int i = 0; i < n; ++i) {
        int peer = group.ranks()[size_t(i)];
        if (i == me)
          continue;
        postRecv(pending, collective_, contributions + size_t(i) * myCount, myCount * sizeof(T),
                 peer, collectiveTag(group.id(), 0),
                 "reduce-scatter: chunk from rank " + std::to_string(peer));
        postSend(pending, collective_, data + begin(i), (begin(i + 1) - begin(i)) * sizeof(T),
                 peer, collectiveTag(group.id(), 0),
                 "reduce-scatter: chunk to rank " + std::to_string(peer));
      }
      pending.wait();
    }
    T *sum = data + myBegin;
    sumInRankOrder(sum, contributions, myCount, n);

    // All-gather: our summed chunk to everyone, theirs into place.
    Pending pending(*this, whatOver, monotonicSeconds());
    for (int i = 0; i < n; ++i) {
      int peer = group.ranks()[size_t(i)];
      if (i == me)
        continue;
      postRecv(pending, collective_, data + begin(i), (begin(i + 1) - begin(i)) * sizeof(T), peer,
               collectiveTag(group.id(), 1),
               "all-gather: summed chunk from rank " + std::to_string(peer));
      postSend(pending, collective_, sum, myCount * sizeof(T), peer, collectiveTag(group.id(), 1),
               "all-gather: summed chunk to rank " + std::to_string(peer));
    }
    pending.wait();
  }

  MPI_Comm p2p_, collective_;
  std::vector<char> scratch_;

  friend class Pending;
};

} // namespace

std::unique_ptr<Comm> makeMpiComm(const CommOptions &options) {
  char where[160];
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // OpenMP threads never call MPI: only the main thread talks.
    int provided = 0;
    if (MPI_Init_thread(options.argc, options.argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
      throw CommError("MPI_Init_thread failed: cannot start the MPI runtime");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::snprintf(where, sizeof(where), "rank %d of %d (startup): ", rank, size);
  auto failStartup = [&](const std::string &message) {
    std::string text = where + message;
    // Every rank sees the same sizes, so every rank fails alike; finalize so mpirun reports
    // the exit status rather than an abnormal termination.
    MPI_Finalize();
    throw CommError(text);
  };
  if (size != options.ranks)
    failStartup("this trainer was compiled for " + std::to_string(options.ranks) +
                " ranks (its cluster map's layout), but the launcher started " +
                std::to_string(size) + (size == 1 ? " (run it with mpirun -np " +
                                                        std::to_string(options.ranks) + ")"
                                                  : ""));
  // Two private duplicates: user send/recv tags can never match a collective's messages.
  MPI_Comm p2p = MPI_COMM_NULL, collective = MPI_COMM_NULL;
  MPI_Request requests[2];
  double deadline = monotonicSeconds() + options.timeoutSeconds;
  if (MPI_Comm_idup(MPI_COMM_WORLD, &p2p, &requests[0]) != MPI_SUCCESS ||
      MPI_Comm_idup(MPI_COMM_WORLD, &collective, &requests[1]) != MPI_SUCCESS)
    failStartup("MPI_Comm_idup failed");
  for (;;) {
    int done = 0;
    if (MPI_Testall(2, requests, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
      failStartup("duplicating MPI_COMM_WORLD failed");
    if (done)
      break;
    if (monotonicSeconds() > deadline) {
      std::fprintf(stderr, "error: %sduplicating MPI_COMM_WORLD timed out after %g s "
                   "(--collective-timeout): some rank never started\n", where,
                   options.timeoutSeconds);
      MPI_Abort(MPI_COMM_WORLD, kExitComm);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  MPI_Comm_set_errhandler(p2p, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(collective, MPI_ERRORS_RETURN);
  auto comm = std::make_unique<MpiComm>(rank, size, p2p, collective);
  comm->setTimeout(options.timeoutSeconds);
  return comm;
}

} // namespace ingot::rt
