//===- CommTest.cpp - The deterministic sum, the one-rank Comm, the comm flags ===//
//
// The multi-rank backends are tested under mpirun by test/parallel/comm-mpi.test (the
// IngotCommMpiTests program); here, what needs no second process.
//
//===----------------------------------------------------------------------===//
#include "RuntimeTestUtil.h"
#include "ingot/rt/Comm.h"
#include "src/CommReduce.h"
#include "src/Error.h"
#include "src/Flags.h"

#include <cstring>
#include <functional>
#include <random>

using namespace ingot::rt;
using namespace ingot::rt::test;

namespace {

template <typename T> bool sameBits(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// Runs the backends' algorithm for `members` simulated ranks holding `inputs` (one buffer each):
/// member i sums chunk i of every input with sumInRankOrder. Returns the reduced buffer.
template <typename T> std::vector<T> simulateAllReduce(const std::vector<std::vector<T>> &inputs) {
  const int n = int(inputs.size());
  const size_t count = inputs[0].size();
  std::vector<T> out(count);
  for (int i = 0; i < n; ++i) {
    size_t begin = chunkBegin(count, n, i), chunk = chunkBegin(count, n, i + 1) - begin;
    std::vector<T> contributions(size_t(n) * chunk);
    for (int m = 0; m < n; ++m)
      std::memcpy(contributions.data() + size_t(m) * chunk, inputs[size_t(m)].data() + begin,
                  chunk * sizeof(T));
    sumInRankOrder(out.data() + begin, contributions.data(), chunk, n);
  }
  return out;
}

/// What a one-rank trainer does with the same terms as micro-batch gradients: a zeroed buffer,
/// then `buffer += term` for each micro-batch in order.
template <typename T> std::vector<T> accumulateLikeOneRank(const std::vector<std::vector<T>> &terms) {
  std::vector<T> acc(terms[0].size(), T(0));
  for (const std::vector<T> &t : terms)
    for (size_t k = 0; k < acc.size(); ++k)
      acc[k] += t[k];
  return acc;
}

/// Terms of mixed magnitudes, so that the order of the additions changes the rounding.
template <typename T> std::vector<std::vector<T>> randomTerms(int members, size_t count,
                                                              unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-20, 20);
  std::vector<std::vector<T>> terms(size_t(members), std::vector<T>(count, T(0)));
  for (auto &t : terms)
    for (T &x : t)
      x = T(std::ldexp(mantissa(rng), exponent(rng)));
  return terms;
}

TEST(CommReduce, ChunksCoverTheBufferOnceInOrder) {
  for (size_t count : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(7), size_t(64),
                       size_t(1000), size_t(1001)}) {
    for (int n : {1, 2, 3, 4, 5, 8}) {
      EXPECT_EQ(chunkBegin(count, n, 0), 0u);
      EXPECT_EQ(chunkBegin(count, n, n), count);
      for (int i = 0; i < n; ++i) {
        size_t size = chunkBegin(count, n, i + 1) - chunkBegin(count, n, i);
        EXPECT_LE(size, count / size_t(n) + 1) << count << " " << n << " " << i;
        EXPECT_GE(size, count / size_t(n)) << count << " " << n << " " << i;
      }
    }
  }
  // No overflow for buffers past 2^32 elements over many ranks.
  EXPECT_EQ(chunkBegin(size_t(1) << 40, 1 << 20, 1 << 19), size_t(1) << 39);
}

TEST(CommReduce, MatchesTheOneRankAccumulationBitForBit) {
  for (int n : {2, 3, 4, 7}) {
    for (size_t count : {size_t(1), size_t(5), size_t(1000)}) {
      auto floats = randomTerms<float>(n, count, unsigned(n * 1000 + count));
      EXPECT_TRUE(sameBits(simulateAllReduce(floats), accumulateLikeOneRank(floats)))
          << n << " members, " << count << " floats";
      auto doubles = randomTerms<double>(n, count, unsigned(n * 7 + count));
      EXPECT_TRUE(sameBits(simulateAllReduce(doubles), accumulateLikeOneRank(doubles)))
          << n << " members, " << count << " doubles";
    }
  }
}

TEST(CommReduce, TheOrderIsAscendingRankNotATree) {
  // 1 + 2^-24 + 2^-24 + ... : ascending order rounds each small term away; a pairwise tree adds
  // the small terms first and keeps them. The check above could not tell them apart otherwise.
  std::vector<std::vector<float>> terms = {{1.0f}, {0x1p-24f}, {0x1p-24f}, {0x1p-24f}};
  std::vector<float> sum = simulateAllReduce(terms);
  EXPECT_EQ(sum[0], 1.0f);
  float tree = (terms[0][0] + terms[1][0]) + (terms[2][0] + terms[3][0]);
  EXPECT_NE(sum[0], tree);
  // And the result does not depend on how the buffer is chunked: the same element sums alike
  // whichever member owns it.
  auto many = randomTerms<float>(4, 9, 42);
  std::vector<float> reference = accumulateLikeOneRank(many);
  for (int n = 1; n <= 4; ++n) {
    std::vector<std::vector<float>> firstN(many.begin(), many.begin() + n);
    EXPECT_TRUE(sameBits(simulateAllReduce(firstN), accumulateLikeOneRank(firstN))) << n;
  }
  EXPECT_TRUE(sameBits(simulateAllReduce(many), reference));
}

TEST(SingleComm, CollectivesAreTheIdentity) {
  std::unique_ptr<Comm> comm = makeSingleComm();
  EXPECT_STREQ(comm->backend(), "single");
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->world().describe(), "{0}");
  std::vector<float> f = {1.5f, -2.0f};
  comm->allReduceSum(f.data(), f.size(), comm->world(), "test");
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f}));
  double d = 3.25;
  comm->allReduceSum(&d, 1, comm->world(), "test");
  EXPECT_EQ(d, 3.25);
  EXPECT_TRUE(comm->anyTrue(true, comm->world(), "test"));
  EXPECT_FALSE(comm->anyTrue(false, comm->world(), "test"));
  comm->barrier(comm->world(), "test");
  comm->broadcast(&d, sizeof(d), 0, comm->world(), "test");
}

std::string commError(const std::function<void()> &f) {
  try {
    f();
  } catch (const CommError &e) {
    return e.what();
  }
  return "";
}

TEST(SingleComm, MistakesAreNamedErrors) {
  std::unique_ptr<Comm> comm = makeSingleComm();
  comm->setContext(0, 17);
  char byte = 0;
  EXPECT_EQ(commError([&] { comm->send(&byte, 1, 1, 0, "send of activations"); }),
            "rank 0 of 1 (stage 0, step 17): send of activations: send to rank 1 in a one-rank "
            "job");
  EXPECT_EQ(commError([&] { comm->makeGroup({0, 3}, "the stage group"); }),
            "rank 0 of 1 (stage 0, step 17): the stage group: the group {0,3} names rank 3, but "
            "the job has ranks 0..0");
  EXPECT_EQ(commError([&] { comm->makeGroup({}, "an empty group"); }),
            "rank 0 of 1 (stage 0, step 17): an empty group: an empty rank group");
  Group stranger; // not made by this Comm
  EXPECT_NE(commError([&] { comm->barrier(stranger, "barrier"); }).find("was not made by this Comm"),
            std::string::npos);
  Group g = comm->makeGroup({0}, "group of one");
  EXPECT_EQ(g.size(), 1);
  EXPECT_TRUE(comm->anyTrue(true, g, "test"));
}

Options parse(std::vector<std::string> flags) {
  LinearModel model;
  Args args(std::move(flags));
  return parseFlags(model.desc, args.argc(), args.argv());
}

std::string usageError(std::vector<std::string> flags) {
  try {
    parse(std::move(flags));
  } catch (const UsageError &e) {
    return e.what();
  }
  return "";
}

TEST(CommFlags, CollectiveTimeout) {
  EXPECT_EQ(parse({"--data", "x", "--steps", "1"}).collectiveTimeout, 300);
  EXPECT_EQ(parse({"--data", "x", "--steps", "1", "--collective-timeout", "2.5"}).collectiveTimeout,
            2.5);
  EXPECT_EQ(parse({"--data", "x", "--steps", "1", "--collective-timeout=60"}).collectiveTimeout, 60);
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timeout", "0"}),
            "--collective-timeout: expected a positive number, found '0'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timeout", "-3"}),
            "--collective-timeout: expected a positive number, found '-3'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timeout", "5s"}),
            "--collective-timeout: expected a positive number, found '5s'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timeout", "inf"}),
            "--collective-timeout: expected a positive number, found 'inf'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timeout", "3e8"}),
            "--collective-timeout: expected at most 1e7 seconds, found '3e8'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timeout"}),
            "--collective-timeout: expected a positive number, found the end of the command line");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--collective-timout", "5"}),
            "unknown flag '--collective-timout'; did you mean '--collective-timeout'? (see --help)");
}

TEST(CommFlags, Rendezvous) {
  Options o = parse({"--data", "x", "--steps", "1", "--master-addr", "node7", "--master-port",
                     "29500"});
  EXPECT_EQ(o.masterAddr, "node7");
  EXPECT_EQ(o.masterPort, 29500);
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--master-port", "65536"}),
            "--master-port: expected a positive integer, found '65536'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--master-port", "0"}),
            "--master-port: expected a positive integer, found '0'");
  EXPECT_EQ(usageError({"--data", "x", "--steps", "1", "--master-addr", ""}),
            "--master-addr: expected HOST, found an empty string");
}

} // namespace
