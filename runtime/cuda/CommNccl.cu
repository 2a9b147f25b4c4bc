//===- CommNccl.cu - The cuda target's Comm over NCCL ---------------------===//
//
// Built into libingot_rt_nccl.a, which multi-rank cuda trainers link (with -lnccl); one-rank
// trainers link neither NCCL nor MPI.
//
// Bootstrap (DESIGN.md, "Ranks and launch"): under mpirun or srun the NCCL unique id is
// broadcast over MPI (the host target's MpiComm, which then stays alive for abortJob); otherwise
// rank 0 serves it over TCP at --master-addr:--master-port (or MASTER_ADDR / MASTER_PORT), with
// the rank and world size from RANK and WORLD_SIZE, as torchrun does. The GPU is the local rank
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, LOCAL_RANK) modulo the visible devices.
//
// The watchdog: the communicator is created non-blocking (ncclConfig_t.blocking = 0), so no NCCL
// call waits; every operation is enqueued on the Comm's own stream and then polled: the
// stream (cudaStreamQuery) for completion, ncclCommGetAsyncError for failures, the clock for
// the deadline. A timeout or an error aborts the communicator (ncclCommAbort, which also
// unblocks kernels waiting for a peer) and throws CommError naming the rank, step and operation.
//
// Sums use the same algorithm as the MPI backend, over NCCL point-to-point: each member owns one
// chunk of the buffer, receives that chunk from every member, adds the contributions in
// ascending rank order with one kernel (each element summed by one thread, sequentially), and
// sends the sum back to every member. So the result has the same bits on every rank and the
// same bits as the host target's for the same inputs. Groups need no communicators of their
// own: point-to-point on the world communicator reaches any subset.
//
//===----------------------------------------------------------------------===//
#include "ingot/rt/Comm.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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

const char *envOr(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v && *v ? v : fallback;
}

int envInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return fallback;
  char *end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > (1 << 30))
    throw CommError(std::string("the environment variable ") + name +
                    " must be a non-negative integer, found '" + v + "'");
  return int(x);
}

/// Launched by mpirun or srun (an MPI launcher that MPI_Init can talk to)?
bool launchedByMpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") ||
         std::getenv("PMI_RANK") || std::getenv("SLURM_PROCID");
}

int localRank() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"})
    if (std::getenv(name))
      return envInt(name, 0);
  return 0;
}

// Sums the contributions of `members` ranks to one chunk in ascending rank order:
// sum[i] = ((c[0][i] + c[1][i]) + c[2][i]) + ...  (contributions laid out member-major).
template <typename T>
__global__ void sumInRankOrder(T *sum, const T *contributions, size_t count, int members) {
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count)
    return;
  T acc = contributions[i];
  for (int m = 1; m < members; ++m)
    acc = acc + contributions[size_t(m) * count + i];
  sum[i] = acc;
}

__global__ void orBytes(uint8_t *out, const uint8_t *votes, int members) {
  uint8_t any = 0;
  for (int m = 0; m < members; ++m)
    any |= votes[m];
  *out = any;
}

template <typename T> ncclDataType_t ncclType();
template <> ncclDataType_t ncclType<float>() { return ncclFloat32; }
template <> ncclDataType_t ncclType<double>() { return ncclFloat64; }

// --- TCP rendezvous: rank 0 hands the NCCL unique id to every other rank. -------------------

/// Waits until `fd` is ready for `events` or the deadline passes; false at the deadline.
bool waitFd(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - monotonicSeconds();
    if (left <= 0)
      return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, int(std::min(left, 1.0) * 1000) + 1);
    if (rc > 0)
      return true;
    if (rc < 0 && errno != EINTR)
      return false;
  }
}

void ioExactly(int fd, void *data, size_t bytes, bool write, double deadline,
               const std::string &what) {
  char *p = static_cast<char *>(data);
  while (bytes > 0) {
    if (!waitFd(fd, write ? POLLOUT : POLLIN, deadline))
      throw CommError(what + ": timed out (--collective-timeout)");
    ssize_t n = write ? ::send(fd, p, bytes, MSG_NOSIGNAL) : ::recv(fd, p, bytes, 0);
    if (n == 0)
      throw CommError(what + ": the peer closed the connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      throw CommError(what + ": " + std::strerror(errno));
    }
    p += n;
    bytes -= size_t(n);
  }
}

ncclUniqueId rendezvousTcp(int rank, int size, const std::string &host, int port,
                           double deadline) {
  char where[96];
  std::snprintf(where, sizeof(where), "rank %d of %d (startup): TCP rendezvous at %s:%d", rank,
                size, host.c_str(), port);
  ncclUniqueId id;
  if (rank == 0) {
    if (ncclGetUniqueId(&id) != ncclSuccess)
      throw CommError(std::string(where) + ": ncclGetUniqueId failed");
    int server = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (server < 0)
      throw CommError(std::string(where) + ": socket: " + std::strerror(errno));
    int on = 1, off = 0;
    ::setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    ::setsockopt(server, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(uint16_t(port));
    if (::bind(server, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
        ::listen(server, size) != 0) {
      int e = errno;
      ::close(server);
      throw CommError(std::string(where) + ": cannot listen on port " + std::to_string(port) +
                      ": " + std::strerror(e));
    }
    for (int served = 1; served < size; ++served) {
      if (!waitFd(server, POLLIN, deadline)) {
        ::close(server);
        throw CommError(std::string(where) + ": timed out with " + std::to_string(served - 1) +
                        " of " + std::to_string(size - 1) + " ranks connected "
                        "(--collective-timeout)");
      }
      int peer = ::accept(server, nullptr, nullptr);
      if (peer < 0) {
        --served;
        continue;
      }
      try {
        ioExactly(peer, &id, sizeof(id), /*write=*/true, deadline, where);
      } catch (...) {
        ::close(peer);
        ::close(server);
        throw;
      }
      ::close(peer);
    }
    ::close(server);
    return id;
  }
  // Other ranks: connect (rank 0 may not listen yet: retry until the deadline) and read.
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0)
    throw CommError(std::string(where) + ": cannot resolve the host: " + gai_strerror(rc));
  for (;;) {
    for (addrinfo *a = found; a; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0)
        continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        ::freeaddrinfo(found);
        try {
          ioExactly(fd, &id, sizeof(id), /*write=*/false, deadline, where);
        } catch (...) {
          ::close(fd);
          throw;
        }
        ::close(fd);
        return id;
      }
      ::close(fd);
    }
    if (monotonicSeconds() > deadline) {
      ::freeaddrinfo(found);
      throw CommError(std::string(where) + ": rank 0 never answered (--collective-timeout)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

class NcclComm final : public Comm {
public:
  NcclComm(int rank, int size, std::unique_ptr<Comm> bootstrap)
      : Comm(rank, size), bootstrap_(std::move(bootstrap)) {}

  ~NcclComm() override {
    if (comm_)
      ncclCommDestroy(comm_);
    if (stream_)
      cudaStreamDestroy(stream_);
    if (scratch_)
      cudaFree(scratch_);
    if (pinned_)
      cudaFreeHost(pinned_);
    if (staging_)
      cudaFree(staging_);
  }

  const char *backend() const override { return "nccl"; }

  /// Creates the communicator without blocking, and waits for it against the deadline.
  void init(const ncclUniqueId &id, double timeoutSeconds) {
    checkCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "startup",
              "cudaStreamCreate");
    checkCuda(cudaMallocHost(reinterpret_cast<void **>(&pinned_), 2), "startup",
              "cudaMallocHost");
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommInitRankConfig(&comm_, size_, id, rank_, &config);
    if (rc != ncclSuccess && rc != ncclInProgress)
      fail("startup", std::string("ncclCommInitRankConfig failed: ") + ncclGetErrorString(rc));
    waitNccl("creating the NCCL communicator", monotonicSeconds() + timeoutSeconds);
  }

  void send(const void *data, size_t bytes, int peer, int tag, const std::string &what) override {
    stallIfAsked();
    checkPeer(peer, what);
    (void)tag; // NCCL matches send/recv pairs by order per peer; the plan orders them alike
    Op op(*this, what);
    op.call(ncclSend(data, bytes, ncclUint8, peer, comm_, stream_), "ncclSend");
    op.finish();
  }

  void recv(void *data, size_t bytes, int peer, int tag, const std::string &what) override {
    stallIfAsked();
    checkPeer(peer, what);
    (void)tag;
    Op op(*this, what);
    op.call(ncclRecv(data, bytes, ncclUint8, peer, comm_, stream_), "ncclRecv");
    op.finish();
  }

  void allReduceSum(float *data, size_t count, const Group &group,
                    const std::string &what) override {
    viaDevice(data, count * sizeof(float), what, [&](void *device) {
      allReduce(static_cast<float *>(device), count, group, what);
    });
  }
  void allReduceSum(double *data, size_t count, const Group &group,
                    const std::string &what) override {
    viaDevice(data, count * sizeof(double), what, [&](void *device) {
      allReduce(static_cast<double *>(device), count, group, what);
    });
  }

  void broadcast(void *data, size_t bytes, int root, const Group &group,
                 const std::string &what) override {
    viaDevice(data, bytes, what, [&](void *device) {
      broadcastDevice(device, bytes, root, group, what);
    });
  }

  void broadcastDevice(void *data, size_t bytes, int root, const Group &group,
                       const std::string &what) {
    stallIfAsked();
    checkMember(group, what);
    if (group.indexOf(root) < 0)
      fail(what, "the broadcast root, rank " + std::to_string(root) +
                     ", is not a member of the group " + group.describe());
    Op op(*this, what + " over ranks " + group.describe());
    op.call(ncclGroupStart(), "ncclGroupStart");
    for (int member : group.ranks()) {
      if (rank_ == root && member != root)
        op.call(ncclSend(data, bytes, ncclUint8, member, comm_, stream_), "ncclSend");
      else if (member == rank_ && member != root)
        op.call(ncclRecv(data, bytes, ncclUint8, root, comm_, stream_), "ncclRecv");
    }
    op.call(ncclGroupEnd(), "ncclGroupEnd");
    op.finish();
  }

  void barrier(const Group &group, const std::string &what) override {
    anyTrue(false, group, what);
  }

  bool anyTrue(bool value, const Group &group, const std::string &what) override {
    stallIfAsked();
    checkMember(group, what);
    const int n = group.size();
    if (n == 1)
      return value;
    const int root = group.ranks().front();
    // Device bytes: [0, n) the votes at the root, n the decision.
    uint8_t *votes = static_cast<uint8_t *>(scratch(size_t(n) + 1));
    uint8_t *decision = votes + n;
    // Through pinned host memory: a copy from pageable memory could block this thread behind
    // the stream's NCCL work, out of the watchdog's reach.
    pinned_[0] = value ? 1 : 0;
    Op op(*this, what + " over ranks " + group.describe());
    op.cuda(cudaMemcpyAsync(votes + group.indexOf(rank_), pinned_, 1, cudaMemcpyHostToDevice,
                            stream_), "cudaMemcpyAsync");
    op.call(ncclGroupStart(), "ncclGroupStart");
    for (int i = 0; i < n; ++i) {
      int member = group.ranks()[size_t(i)];
      if (rank_ == root && member != root)
        op.call(ncclRecv(votes + i, 1, ncclUint8, member, comm_, stream_), "ncclRecv");
      else if (member == rank_ && member != root)
        op.call(ncclSend(votes + i, 1, ncclUint8, root, comm_, stream_), "ncclSend");
    }
    op.call(ncclGroupEnd(), "ncclGroupEnd");
    if (rank_ == root)
      orBytes<<<1, 1, 0, stream_>>>(decision, votes, n);
    op.call(ncclGroupStart(), "ncclGroupStart");
    for (int member : group.ranks()) {
      if (rank_ == root && member != root)
        op.call(ncclSend(decision, 1, ncclUint8, member, comm_, stream_), "ncclSend");
      else if (member == rank_ && member != root)
        op.call(ncclRecv(decision, 1, ncclUint8, root, comm_, stream_), "ncclRecv");
    }
    op.call(ncclGroupEnd(), "ncclGroupEnd");
    op.cuda(cudaMemcpyAsync(pinned_ + 1, decision, 1, cudaMemcpyDeviceToHost, stream_),
            "cudaMemcpyAsync");
    op.finish();
    return pinned_[1] != 0;
  }

  [[noreturn]] void abortJob(int exitCode) override {
    std::fflush(stdout);
    std::fflush(stderr);
    if (comm_) {
      ncclCommAbort(comm_); // unblocks this rank's kernels that wait for a peer
      comm_ = nullptr;
    }
    if (bootstrap_)
      bootstrap_->abortJob(exitCode); // MPI_Abort: mpirun ends every rank
    std::_Exit(exitCode);
  }

protected:
  void createGroup(Group &, const std::string &) override {}

private:
  /// One operation: NCCL calls enqueued on the stream, then polled to completion.
  class Op {
  public:
    Op(NcclComm &comm, std::string what)
        : comm_(comm), what_(std::move(what)),
          deadline_(monotonicSeconds() + comm.timeout()) {}
    /// A non-blocking communicator may answer ncclInProgress: the call is being carried out,
    /// and the async error says when it is done.
    void call(ncclResult_t rc, const char *name) {
      if (rc == ncclInProgress)
        comm_.waitNccl(what_ + " (" + name + ")", deadline_);
      else if (rc != ncclSuccess)
        comm_.failAndAbort(what_, std::string(name) + " failed: " + ncclGetErrorString(rc));
    }
    void cuda(cudaError_t rc, const char *name) {
      if (rc != cudaSuccess)
        comm_.failAndAbort(what_, std::string(name) + " failed: " + cudaGetErrorString(rc));
    }
    /// Polls the stream until the operation is done, failing at the deadline.
    void finish() {
      int pause = 0;
      for (;;) {
        cudaError_t done = cudaStreamQuery(comm_.stream_);
        if (done == cudaSuccess)
          return;
        if (done != cudaErrorNotReady)
          comm_.failAndAbort(what_, std::string("the stream failed: ") +
                                        cudaGetErrorString(done));
        ncclResult_t async = ncclSuccess;
        ncclCommGetAsyncError(comm_.comm_, &async);
        if (async != ncclSuccess && async != ncclInProgress)
          comm_.failAndAbort(what_, std::string("NCCL reports: ") + ncclGetErrorString(async) +
                                        (ncclGetLastError(comm_.comm_)
                                             ? std::string(" (") +
                                                   ncclGetLastError(comm_.comm_) + ")"
                                             : std::string()));
        if (monotonicSeconds() > deadline_) {
          char seconds[32];
          std::snprintf(seconds, sizeof(seconds), "%g", comm_.timeout());
          comm_.failAndAbort(what_, std::string("timed out after ") + seconds +
                                        " s (--collective-timeout); a peer never joined");
        }
        if (++pause > 1000)
          std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }

  private:
    NcclComm &comm_;
    std::string what_;
    double deadline_;
  };

  /// Waits for the communicator's async state to leave ncclInProgress.
  void waitNccl(const std::string &what, double deadline) {
    for (;;) {
      ncclResult_t state = ncclInProgress;
      ncclResult_t rc = ncclCommGetAsyncError(comm_, &state);
      if (rc != ncclSuccess)
        failAndAbort(what, std::string("ncclCommGetAsyncError failed: ") +
                               ncclGetErrorString(rc));
      if (state == ncclSuccess)
        return;
      if (state != ncclInProgress)
        failAndAbort(what, std::string("NCCL reports: ") + ncclGetErrorString(state));
      if (monotonicSeconds() > deadline) {
        char seconds[32];
        std::snprintf(seconds, sizeof(seconds), "%g", timeout());
        failAndAbort(what, std::string("timed out after ") + seconds +
                               " s (--collective-timeout)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  /// Aborts the communicator first, so that nothing of this rank keeps waiting on a peer.
  [[noreturn]] void failAndAbort(const std::string &what, const std::string &detail) {
    if (comm_) {
      ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    fail(what, detail);
  }

  void checkCuda(cudaError_t rc, const std::string &what, const char *name) {
    if (rc != cudaSuccess)
      fail(what, std::string(name) + " failed: " + cudaGetErrorString(rc));
  }

  void checkPeer(int peer, const std::string &what) const {
    if (peer < 0 || peer >= size_ || peer == rank_)
      fail(what, "no such peer: rank " + std::to_string(peer) + " (this job has ranks 0.." +
                     std::to_string(size_ - 1) + ", and this is rank " + std::to_string(rank_) +
                     ")");
  }

  /// Runs `f` on a device copy of `data` when `data` is host memory (the trainer's scalars, a
  /// checkpoint name), else on `data` itself. Gradients and activations are device memory and
  /// take the direct path; the copies are for the few small host values.
  template <typename F>
  void viaDevice(void *data, size_t bytes, const std::string &what, F &&f) {
    cudaPointerAttributes attr{};
    bool device = cudaPointerGetAttributes(&attr, data) == cudaSuccess &&
                  (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged);
    cudaGetLastError(); // an unregistered host pointer may leave an error behind
    if (device || bytes == 0) {
      f(data);
      return;
    }
    if (bytes > stagingBytes_) {
      if (staging_)
        cudaFree(staging_);
      staging_ = nullptr;
      checkCuda(cudaMalloc(&staging_, bytes), what, "cudaMalloc (host-value staging)");
      stagingBytes_ = bytes;
    }
    // The Comm's stream is idle between operations, so these copies wait for nothing.
    checkCuda(cudaMemcpy(staging_, data, bytes, cudaMemcpyHostToDevice), what, "cudaMemcpy");
    f(staging_);
    checkCuda(cudaMemcpy(data, staging_, bytes, cudaMemcpyDeviceToHost), what, "cudaMemcpy");
  }

  /// Device scratch of at least `bytes`, grown on demand. (Growth allocates: the trainer's
  /// first step reaches the largest size, so steady-state steps never allocate.)
  void *scratch(size_t bytes) {
    if (bytes > scratchBytes_) {
      cudaStreamSynchronize(stream_);
      if (scratch_)
        cudaFree(scratch_);
      scratch_ = nullptr;
      checkCuda(cudaMalloc(&scratch_, bytes), "collective scratch", "cudaMalloc");
      scratchBytes_ = bytes;
    }
    return scratch_;
  }

  template <typename T>
  void allReduce(T *data, size_t count, const Group &group, const std::string &what) {
    stallIfAsked();
    checkMember(group, what);
    const int n = group.size();
    if (n == 1 || count == 0)
      return;
    const int me = group.indexOf(rank_);
    auto chunkBegin = [&](int i) { return count * size_t(i) / size_t(n); };
    const size_t myBegin = chunkBegin(me), myCount = chunkBegin(me + 1) - myBegin;
    T *contributions = static_cast<T *>(scratch(size_t(n) * myCount * sizeof(T)));
    Op op(*this, what + " over ranks " + group.describe());
    // Reduce-scatter by point-to-point: chunk i of every member to member i.
    op.cuda(cudaMemcpyAsync(contributions + size_t(me) * myCount, data + myBegin,
                            myCount * sizeof(T), cudaMemcpyDeviceToDevice, stream_),
            "cudaMemcpyAsync");
    op.call(ncclGroupStart(), "ncclGroupStart");
    for (int i = 0; i < n; ++i) {
      if (i == me)
        continue;
      int peer = group.ranks()[size_t(i)];
      size_t begin = chunkBegin(i), chunk = chunkBegin(i + 1) - begin;
      op.call(ncclSend(data + begin, chunk, ncclType<T>(), peer, comm_, stream_), "ncclSend");
      op.call(ncclRecv(contributions + size_t(i) * myCount, myCount, ncclType<T>(), peer, comm_,
                       stream_),
              "ncclRecv");
    }
    op.call(ncclGroupEnd(), "ncclGroupEnd");
    if (myCount > 0) {
      unsigned blocks = unsigned((myCount + 255) / 256);
      sumInRankOrder<T><<<blocks, 256, 0, stream_>>>(data + myBegin, contributions, myCount, n);
      op.cuda(cudaGetLastError(), "the rank-order sum kernel");
    }
    // All-gather by point-to-point: the summed chunk i from member i to everyone.
    op.call(ncclGroupStart(), "ncclGroupStart");
    for (int i = 0; i < n; ++i) {
      if (i == me)
        continue;
      int peer = group.ranks()[size_t(i)];
      size_t begin = chunkBegin(i), chunk = chunkBegin(i + 1) - begin;
      op.call(ncclSend(data + myBegin, myCount, ncclType<T>(), peer, comm_, stream_), "ncclSend");
      op.call(ncclRecv(data + begin, chunk, ncclType<T>(), peer, comm_, stream_), "ncclRecv");
    }
    op.call(ncclGroupEnd(), "ncclGroupEnd");
    op.finish();
  }

  std::unique_ptr<Comm> bootstrap_; // the MpiComm under mpirun/srun, else null
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void *scratch_ = nullptr;
  size_t scratchBytes_ = 0;
  uint8_t *pinned_ = nullptr; // anyTrue's vote and decision
  void *staging_ = nullptr;   // host values on their way through NCCL (viaDevice)
  size_t stagingBytes_ = 0;
};

} // namespace

std::unique_ptr<Comm> makeNcclComm(const CommOptions &options) {
  const double deadline = monotonicSeconds() + options.timeoutSeconds;
  std::unique_ptr<Comm> bootstrap;
  int rank = 0, size = 0;
  if (launchedByMpi()) {
    bootstrap = makeMpiComm(options); // checks the launcher's rank count against the layout
    rank = bootstrap->rank();
    size = bootstrap->size();
  } else {
    if (!std::getenv("RANK") || !std::getenv("WORLD_SIZE"))
      throw CommError("this trainer was compiled for " + std::to_string(options.ranks) +
                      " ranks: start it with mpirun or srun, or set RANK and WORLD_SIZE on each "
                      "process (with --master-addr and --master-port, or MASTER_ADDR and "
                      "MASTER_PORT), as torchrun does");
    rank = envInt("RANK", 0);
    size = envInt("WORLD_SIZE", 0);
    if (size != options.ranks || rank >= size)
      throw CommError("RANK " + std::to_string(rank) + ", WORLD_SIZE " + std::to_string(size) +
                      ": this trainer was compiled for " + std::to_string(options.ranks) +
                      " ranks (its cluster map's layout)");
  }
  // Startup check: the NCCL library loaded at run time must be the release this trainer was
  // built against (same major and minor version), or collectives may disagree across ranks.
  int loaded = 0;
  if (ncclGetVersion(&loaded) != ncclSuccess)
    throw CommError("rank " + std::to_string(rank) + " (startup): ncclGetVersion failed");
  if (loaded / 100 != NCCL_VERSION_CODE / 100)
    throw CommError("startup check: this trainer was built against NCCL " +
                    std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
                    std::to_string(NCCL_PATCH) + " (version code " +
                    std::to_string(NCCL_VERSION_CODE) + "), but the NCCL library loaded on rank " +
                    std::to_string(rank) + " reports version code " + std::to_string(loaded));
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)
    throw CommError("rank " + std::to_string(rank) + " (startup): no CUDA device is visible");
  if (cudaSetDevice(localRank() % devices) != cudaSuccess)
    throw CommError("rank " + std::to_string(rank) + " (startup): cudaSetDevice(" +
                    std::to_string(localRank() % devices) + ") failed");

  ncclUniqueId id;
  if (bootstrap) {
    if (rank == 0 && ncclGetUniqueId(&id) != ncclSuccess)
      throw CommError("rank 0 (startup): ncclGetUniqueId failed");
    bootstrap->setTimeout(options.timeoutSeconds);
    bootstrap->broadcast(&id, sizeof(id), 0, bootstrap->world(),
                         "broadcast of the NCCL unique id");
  } else {
    std::string host = !options.masterAddr.empty() ? options.masterAddr
                                                   : envOr("MASTER_ADDR", "");
    int port = options.masterPort > 0 ? options.masterPort : envInt("MASTER_PORT", 0);
    if (host.empty() || port <= 0 || port > 65535)
      throw CommError("rank " + std::to_string(rank) + " (startup): the TCP rendezvous needs "
                      "--master-addr and --master-port (or MASTER_ADDR and MASTER_PORT)");
    id = rendezvousTcp(rank, size, host, port, deadline);
  }
  auto comm = std::make_unique<NcclComm>(rank, size, std::move(bootstrap));
  comm->setTimeout(options.timeoutSeconds);
  comm->init(id, std::max(1.0, deadline - monotonicSeconds()));
  return comm;
}

} // namespace ingot::rt
