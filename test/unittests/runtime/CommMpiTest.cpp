//===- CommMpiTest.cpp - The MPI Comm, run under mpirun -np 3 ------------===//
//
// test/parallel/comm-mpi.test runs this program as `mpirun -np 3 IngotCommMpiTests`. Every rank
// runs every test in the same order (the collectives need it). Every rank can compute every
// other rank's input (they come from fixed seeds), so each checks the reduced result against
// the one-rank accumulation of all inputs, bit for bit.
//
//===----------------------------------------------------------------------===//
#include "ingot/rt/Comm.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

using namespace ingot::rt;

namespace {

Comm *comm = nullptr;
Group evenRanks; // {0, 2}, made at startup (collective over the world)

template <typename T> std::vector<T> inputOf(int rank, size_t count, unsigned salt) {
  std::mt19937 rng(1000u * unsigned(rank) + salt);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<T> v(count);
  for (T &x : v)
    x = T(std::ldexp(mantissa(rng), exponent(rng)));
  return v;
}

/// A zeroed buffer plus each member's input in ascending rank order: the one-rank accumulation.
template <typename T>
std::vector<T> expectedSum(const std::vector<int> &members, size_t count, unsigned salt) {
  std::vector<T> acc(count, T(0));
  for (int r : members) {
    std::vector<T> x = inputOf<T>(r, count, salt);
    for (size_t k = 0; k < count; ++k)
      acc[k] += x[k];
  }
  return acc;
}

template <typename T> void checkAllReduce(const Group &group, size_t count, unsigned salt) {
  std::vector<T> data = inputOf<T>(comm->rank(), count, salt);
  comm->allReduceSum(data.data(), count, group, "test all-reduce");
  std::vector<T> want = expectedSum<T>(group.ranks(), count, salt);
  EXPECT_EQ(std::memcmp(data.data(), want.data(), count * sizeof(T)), 0)
      << "rank " << comm->rank() << ", " << count << " elements of " << sizeof(T) << " bytes";
}

TEST(CommMpi, WorldIsThreeRanks) {
  EXPECT_EQ(comm->size(), 3);
  EXPECT_STREQ(comm->backend(), "mpi");
  EXPECT_EQ(comm->world().describe(), "{0,1,2}");
}

TEST(CommMpi, AllReduceIsTheAscendingRankSumOnEveryRank) {
  unsigned salt = 1;
  for (size_t count : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(5), size_t(1000),
                       size_t(1 << 20) + 3}) {
    checkAllReduce<float>(comm->world(), count, salt++);
    checkAllReduce<double>(comm->world(), count, salt++);
  }
}

TEST(CommMpi, SubgroupAllReduce) {
  if (evenRanks.indexOf(comm->rank()) >= 0) {
    checkAllReduce<float>(evenRanks, 777, 50);
    checkAllReduce<double>(evenRanks, 1, 51);
  }
  comm->barrier(comm->world(), "test barrier");
}

TEST(CommMpi, BroadcastFromEachRoot) {
  for (int root = 0; root < comm->size(); ++root) {
    std::vector<double> data = inputOf<double>(comm->rank(), 4096, 70);
    comm->broadcast(data.data(), data.size() * sizeof(double), root, comm->world(),
                    "test broadcast");
    EXPECT_EQ(data, inputOf<double>(root, 4096, 70)) << "root " << root;
  }
}

TEST(CommMpi, AnyTrue) {
  EXPECT_FALSE(comm->anyTrue(false, comm->world(), "test vote"));
  EXPECT_TRUE(comm->anyTrue(comm->rank() == 1, comm->world(), "test vote"));
  EXPECT_TRUE(comm->anyTrue(true, comm->world(), "test vote"));
  if (evenRanks.indexOf(comm->rank()) >= 0)
    EXPECT_TRUE(comm->anyTrue(comm->rank() == 2, evenRanks, "test vote"));
}

TEST(CommMpi, SendRecvRing) {
  const int n = comm->size(), next = (comm->rank() + 1) % n, prev = (comm->rank() + n - 1) % n;
  // 3 MB each way, posted send-first on every rank: nothing may block in MPI.
  std::vector<float> out = inputOf<float>(comm->rank(), 3 << 18, 90), in(out.size());
  if (comm->rank() % 2 == 0) {
    comm->send(out.data(), out.size() * 4, next, 7, "test send");
    comm->recv(in.data(), in.size() * 4, prev, 7, "test recv");
  } else {
    comm->recv(in.data(), in.size() * 4, prev, 7, "test recv");
    comm->send(out.data(), out.size() * 4, next, 7, "test send");
  }
  EXPECT_EQ(in, inputOf<float>(prev, 3 << 18, 90));
}

std::string commError(const std::function<void()> &f) {
  try {
    f();
  } catch (const CommError &e) {
    return e.what();
  }
  return "";
}

TEST(CommMpi, ARecvNobodySendsTimesOut) {
  if (comm->rank() == 0) {
    comm->setTimeout(0.5);
    comm->setContext(0, 17);
    char buffer[8];
    auto start = std::chrono::steady_clock::now();
    std::string message =
        commError([&] { comm->recv(buffer, sizeof(buffer), 1, 99, "receive of activations"); });
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(message, "rank 0 of 3 (stage 0, step 17): receive of activations: timed out after "
                       "0.5 s (--collective-timeout); still waiting for: receive from rank 1");
    EXPECT_GE(seconds, 0.5);
    EXPECT_LT(seconds, 5);
    comm->setTimeout(60);
    comm->setContext(0, 0);
  }
  comm->barrier(comm->world(), "test barrier");
}

TEST(CommMpi, PlansThatDisagreeOnSizesAreNamed) {
  if (comm->rank() == 0) {
    char buffer[8];
    EXPECT_EQ(commError([&] { comm->recv(buffer, 8, 1, 5, "receive of gradients"); }),
              "rank 0 of 3 (stage 0, step 0): receive of gradients: receive from rank 1: "
              "expected 8 bytes, received 4 (the ranks' plans disagree)");
  } else if (comm->rank() == 1) {
    char buffer[4] = {};
    comm->send(buffer, 4, 0, 5, "send of gradients");
  }
  if (comm->rank() != 2)
    EXPECT_NE(commError([&] { comm->send(nullptr, 0, comm->rank(), 0, "self"); })
                  .find("no such peer: rank"),
              std::string::npos);
  comm->barrier(comm->world(), "test barrier");
}

} // namespace

int main(int argc, char **argv) {
  testing::InitGoogleTest(&argc, argv);
  CommOptions options;
  options.ranks = 3;
  options.timeoutSeconds = 60;
  options.argc = &argc;
  options.argv = &argv;
  std::unique_ptr<Comm> owned;
  try {
    owned = makeMpiComm(options);
    comm = owned.get();
    evenRanks = comm->makeGroup({0, 2}, "the even ranks");
  } catch (const CommError &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 4;
  }
  int status = RUN_ALL_TESTS();
  // Every rank's verdict: rank 0 exits non-zero when any rank failed.
  bool anyFailed = comm->anyTrue(status != 0, comm->world(), "the test verdicts");
  if (comm->rank() == 0 && anyFailed)
    std::fprintf(stderr, "IngotCommMpiTests: a test failed on some rank\n");
  return anyFailed ? 1 : 0;
}
