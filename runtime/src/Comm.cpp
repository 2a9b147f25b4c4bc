//===- Comm.cpp - What every Comm backend shares, and the one-rank Comm ---===//
#include "ingot/rt/Comm.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace ingot::rt {

std::string Group::describe() const {
  std::string out = "{";
  for (size_t i = 0; i < ranks_.size(); ++i) {
    if (i > 0)
      out += ",";
    out += std::to_string(ranks_[i]);
  }
  return out + "}";
}

Comm::Comm(int rank, int size) : rank_(rank), size_(size) {
  for (int r = 0; r < size; ++r)
    world_.ranks_.push_back(r);
  world_.id_ = 0;
  groups_ = 1;
}

Comm::~Comm() = default;

std::string Comm::where(const std::string &what) const {
  char head[96];
  std::snprintf(head, sizeof(head), "rank %d of %d (stage %d, step %lld): ", rank_, size_, stage_,
                (long long)step_);
  return head + what;
}

void Comm::fail(const std::string &what, const std::string &detail) const {
  throw CommError(where(what) + ": " + detail);
}

void Comm::checkMember(const Group &group, const std::string &what) const {
  if (group.id() < 0 || group.id() >= groups_)
    fail(what, "the group " + group.describe() + " was not made by this Comm (Comm::makeGroup)");
  if (group.indexOf(rank_) < 0)
    fail(what, "this rank is not a member of the group " + group.describe());
}

void Comm::stallIfAsked() {
  if (stallRank_ == -2) {
    stallRank_ = -1;
    const char *env = std::getenv("INGOT_STALL_RANK");
    if (env && *env) {
      char *end = nullptr;
      long r = std::strtol(env, &end, 10);
      if (*end != '\0' || r < 0)
        throw CommError(where("INGOT_STALL_RANK") + ": expected a rank number, found '" + env +
                        "'");
      stallRank_ = int(r);
    }
  }
  if (stallRank_ != rank_)
    return;
  std::fprintf(stderr, "rank %d: INGOT_STALL_RANK: stalling forever before its first "
               "communication\n", rank_);
  std::fflush(stderr);
  for (;;)
    pause(); // no signal handler is installed: SIGTERM from the launcher ends the process
}

Group Comm::makeGroup(const std::vector<int> &ranks, const std::string &what) {
  Group g;
  g.ranks_ = ranks;
  if (ranks.empty())
    fail(what, "an empty rank group");
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i] < 0 || ranks[i] >= size_)
      fail(what, "the group " + g.describe() + " names rank " + std::to_string(ranks[i]) +
                     ", but the job has ranks 0.." + std::to_string(size_ - 1));
    if (i > 0 && ranks[i] <= ranks[i - 1])
      fail(what, "the group " + g.describe() + " is not in strictly ascending rank order");
  }
  g.id_ = groups_++;
  createGroup(g, what);
  return g;
}

namespace {

/// One rank: the group of every collective is {0}, so each is the identity. A send or recv has
/// no peer to talk to, which is a bug in the caller's plan: it fails with a message.
class SingleComm final : public Comm {
public:
  SingleComm() : Comm(0, 1) {}
  const char *backend() const override { return "single"; }

  void send(const void *, size_t, int peer, int, const std::string &what) override {
    fail(what, "send to rank " + std::to_string(peer) + " in a one-rank job");
  }
  void recv(void *, size_t, int peer, int, const std::string &what) override {
    fail(what, "receive from rank " + std::to_string(peer) + " in a one-rank job");
  }
  void allReduceSum(float *, size_t, const Group &group, const std::string &what) override {
    checkMember(group, what);
  }
  void allReduceSum(double *, size_t, const Group &group, const std::string &what) override {
    checkMember(group, what);
  }
  void broadcast(void *, size_t, int root, const Group &group, const std::string &what) override {
    checkMember(group, what);
    if (root != 0)
      fail(what, "broadcast from rank " + std::to_string(root) + " in a one-rank job");
  }
  void barrier(const Group &group, const std::string &what) override {
    checkMember(group, what);
  }
  bool anyTrue(bool value, const Group &group, const std::string &what) override {
    checkMember(group, what);
    return value;
  }
  [[noreturn]] void abortJob(int exitCode) override {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exitCode);
  }

protected:
  void createGroup(Group &, const std::string &) override {}
};

} // namespace

std::unique_ptr<Comm> makeSingleComm() { return std::make_unique<SingleComm>(); }

} // namespace ingot::rt
