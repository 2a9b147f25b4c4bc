//===- Model.cpp - dtypeName and helpers on ModelDesc ---------------------===//
#include "ingot/rt/Model.h"

#include "Error.h"
#include "ModelUtil.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace ingot::rt {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::f32: return "f32";
  case DType::bf16: return "bf16";
  case DType::i32: return "i32";
  case DType::f64: return "f64";
  }
  return "unknown";
}

std::string shapeString(const int64_t *shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const ParamDesc *findParam(const ModelDesc &model, const char *name) {
  for (int i = 0; i < model.numParams; ++i)
    if (model.params[i].value.name && std::strcmp(model.params[i].value.name, name) == 0)
      return &model.params[i];
  return nullptr;
}

int64_t parameterCount(const ModelDesc &model) {
  int64_t n = 0;
  for (int i = 0; i < model.numParams; ++i)
    n += model.params[i].value.numel();
  return n;
}

void readArena(const ModelDesc &model, const char *arena, uint64_t offset, void *dst,
               uint64_t bytes) {
  if (model.copyFromArena)
    model.copyFromArena(dst, arena, offset, bytes);
  else
    std::memcpy(dst, arena + offset, bytes);
}

void writeArena(const ModelDesc &model, char *arena, uint64_t offset, const void *src,
                uint64_t bytes) {
  if (model.copyToArena)
    model.copyToArena(arena, offset, src, bytes);
  else
    std::memcpy(arena + offset, src, bytes);
}

void zeroArena(const ModelDesc &model, char *arena, uint64_t offset, uint64_t bytes) {
  if (model.zeroArena)
    model.zeroArena(arena, offset, bytes);
  else
    std::memset(arena + offset, 0, bytes);
}

double readLoss(const ModelDesc &model, const char *arena) {
  if (model.loss.dtype == DType::f64) {
    double x;
    readArena(model, arena, model.loss.offset, &x, sizeof(x));
    return x;
  }
  float x;
  readArena(model, arena, model.loss.offset, &x, sizeof(x));
  return double(x);
}

static std::string checkTensor(const ModelDesc &model, const TensorDesc &t, const char *what) {
  const char *name = t.name ? t.name : "(unnamed)";
  if (!t.name)
    return format("%s tensor has no name", what);
  if (t.rank < 0 || t.rank > kMaxRank)
    return format("tensor '%s' has rank %d (expected 0..%d)", name, t.rank, kMaxRank);
  for (int i = 0; i < t.rank; ++i)
    if (t.shape[i] <= 0)
      return format("tensor '%s' has shape %s", name, shapeString(t).c_str());
  unsigned size = dtypeBytes(t.dtype);
  if (size == 0)
    return format("tensor '%s' has an unknown dtype %d", name, int(t.dtype));
  if (t.bytes != uint64_t(t.numel()) * size)
    return format("tensor '%s' is %s %s = %llu bytes, but its bytes field says %llu", name,
                  dtypeName(t.dtype), shapeString(t).c_str(),
                  (unsigned long long)(uint64_t(t.numel()) * size), (unsigned long long)t.bytes);
  if (t.offset > model.arenaBytes || t.bytes > model.arenaBytes - t.offset)
    return format("tensor '%s' [%llu, %llu) lies outside the arena of %llu bytes", name,
                  (unsigned long long)t.offset, (unsigned long long)(t.offset + t.bytes),
                  (unsigned long long)model.arenaBytes);
  if (t.offset % 8 != 0)
    return format("tensor '%s' has a misaligned offset %llu", name, (unsigned long long)t.offset);
  return "";
}

/// The pipeline tables (P > 1) against the model: every index in range, every region and
/// transfer inside the arena (a tied gradient's inside the gradient region), each stage's
/// program running only its own segments, and every segment once per micro-batch.
static std::string checkPipeline(const ModelDesc &model) {
  const PipelineDesc &p = *model.pipeline;
  const int stages = std::max(model.stages, 1);
  if (stages < 2)
    return "a pipeline is described, but the layout has one stage";
  if (!p.schedule || p.numSegments <= 0 || !p.segments || p.numTransfers < 0 ||
      (p.numTransfers > 0 && !p.transfers) || !p.programBegin || !p.steps)
    return "the pipeline's tables (schedule, segments, transfers, programs) are missing";
  auto inside = [&](uint64_t offset, uint64_t bytes) {
    return offset <= model.arenaBytes && bytes <= model.arenaBytes - offset;
  };
  auto range = [](uint64_t offset, uint64_t bytes) {
    return format("[%llu, %llu)", (unsigned long long)offset,
                  (unsigned long long)(offset + bytes));
  };
  if (!inside(p.activationOffset, p.activationBytes) || !inside(p.statsOffset, p.statsBytes))
    return format("the pipeline's activation region %s or statistics region %s lies outside "
                  "the arena of %llu bytes", range(p.activationOffset, p.activationBytes).c_str(),
                  range(p.statsOffset, p.statsBytes).c_str(),
                  (unsigned long long)model.arenaBytes);
  int hooks = !!p.allocBuffer + !!p.freeBuffer + !!p.copyBuffer + !!p.addBuffer +
              !!p.synchronize;
  if (hooks != 0 && hooks != 5)
    return "the pipeline's buffer hooks (allocBuffer, freeBuffer, copyBuffer, addBuffer, "
           "synchronize) must be all set or all null";
  if ((hooks == 5) != arenaOnDevice(model))
    return format("the pipeline's buffer hooks are %s but the arena is %s memory",
                  hooks ? "set" : "null", arenaOnDevice(model) ? "device" : "host");
  for (int k = 0; k < p.numSegments; ++k) {
    const PipelineSegment &seg = p.segments[k];
    if (!seg.run || !seg.name)
      return format("pipeline segment %d has no function or name", k);
    if (seg.chunk < 0 || seg.stage != seg.chunk % stages || seg.backward < 0 || seg.backward > 3)
      return format("pipeline segment %d (%s): chunk %d, stage %d, phase %d; chunk c runs on "
                    "stage c mod %d, phases are 0..3", k, seg.name, seg.chunk, seg.stage,
                    seg.backward, stages);
  }
  const DType gradType = model.numParams > 0 ? model.params[0].grad.dtype : DType::f32;
  for (int t = 0; t < p.numTransfers; ++t) {
    const PipelineTransfer &x = p.transfers[t];
    if (x.from < 0 || x.from >= p.numSegments || x.to < 0 || x.to >= p.numSegments)
      return format("pipeline transfer %d names segments %d -> %d of %d", t, x.from, x.to,
                    p.numSegments);
    const char *what = x.what ? x.what : "(unnamed)";
    if (p.segments[x.from].stage == p.segments[x.to].stage)
      return format("pipeline transfer %d (%s) stays on stage %d", t, what,
                    p.segments[x.from].stage);
    if (x.bytes == 0 || !inside(x.offset, x.bytes))
      return format("pipeline transfer %d (%s) %s lies outside the arena of %llu bytes", t,
                    what, range(x.offset, x.bytes).c_str(), (unsigned long long)model.arenaBytes);
    if (x.tiedGradient &&
        (x.offset < model.gradsOffset || x.offset + x.bytes > model.gradsOffset + model.gradsBytes ||
         x.bytes % dtypeBytes(gradType) != 0 || (arenaOnDevice(model) && gradType != DType::f32)))
      return format("pipeline transfer %d (%s) %s is not %s gradients inside the gradient "
                    "region", t, what, range(x.offset, x.bytes).c_str(), dtypeName(gradType));
  }
  if (p.programBegin[0] != 0)
    return "stage 0's program does not begin at step 0";
  std::vector<int> runs(size_t(p.numSegments) * size_t(model.microbatches), 0);
  for (int s = 0; s < stages; ++s) {
    if (p.programBegin[s + 1] < p.programBegin[s])
      return format("stage %d's program ends before it begins", s);
    for (int i = p.programBegin[s]; i < p.programBegin[s + 1]; ++i) {
      const PipelineStep &st = p.steps[i];
      if (st.segment < 0 || st.segment >= p.numSegments || st.microbatch < 0 ||
          st.microbatch >= model.microbatches)
        return format("step %d of stage %d runs segment %d on micro-batch %d (%d segments, %lld "
                      "micro-batches)", i, s, st.segment, st.microbatch, p.numSegments,
                      (long long)model.microbatches);
      if (p.segments[st.segment].stage != s)
        return format("stage %d's program runs %s, a segment of stage %d", s,
                      p.segments[st.segment].name, p.segments[st.segment].stage);
      ++runs[size_t(st.segment) * size_t(model.microbatches) + size_t(st.microbatch)];
    }
  }
  for (int k = 0; k < p.numSegments; ++k)
    for (int64_t m = 0; m < model.microbatches; ++m)
      if (int n = runs[size_t(k) * size_t(model.microbatches) + size_t(m)]; n != 1)
        return format("the stage programs run %s on micro-batch %lld %d times (once expected)",
                      p.segments[k].name, (long long)m, n);
  return "";
}

std::string checkModelDesc(const ModelDesc &model) {
  if (!model.name || !model.target || !model.manifestJson)
    return "the model's name, target or manifest is missing";
  if (model.microBatch <= 0 || model.seqLen <= 0 || model.vocab <= 0 || model.microbatches <= 0)
    return format("microBatch %lld, seqLen %lld, vocab %lld, microbatches %lld must be positive",
                  (long long)model.microBatch, (long long)model.seqLen, (long long)model.vocab,
                  (long long)model.microbatches);
  if (!model.forwardBackward || !model.forward || !model.optimizerStep)
    return "an entry point (forwardBackward, forward, optimizerStep) is missing";
  int hooks = !!model.allocArena + !!model.freeArena + !!model.copyToArena +
              !!model.copyFromArena + !!model.zeroArena;
  if (hooks != 0 && hooks != 5)
    return "the arena hooks (allocArena, freeArena, copyToArena, copyFromArena, zeroArena) must "
           "be all set or all null";
  if (model.numParams < 0 || (model.numParams > 0 && !model.params))
    return "the parameter table is missing";
  if (model.gradsOffset > model.arenaBytes || model.gradsBytes > model.arenaBytes - model.gradsOffset)
    return "the gradient region lies outside the arena";
  for (int i = 0; i < model.numParams; ++i) {
    const ParamDesc &p = model.params[i];
    for (const TensorDesc *t : {&p.value, &p.grad, &p.m, &p.v}) {
      std::string err = checkTensor(model, *t, "a parameter");
      if (!err.empty())
        return err;
      if (t->rank != p.value.rank || t->numel() != p.value.numel())
        return format("tensor '%s' has shape %s, its parameter '%s' has %s", t->name,
                      shapeString(*t).c_str(), p.value.name, shapeString(p.value).c_str());
    }
    if (p.grad.offset < model.gradsOffset ||
        p.grad.offset + p.grad.bytes > model.gradsOffset + model.gradsBytes)
      return format("gradient '%s' lies outside the gradient region", p.grad.name);
    if (p.value.dtype != DType::f32 && p.value.dtype != DType::f64)
      return format("parameter '%s' is %s; master weights must be f32 or f64", p.value.name,
                    dtypeName(p.value.dtype));
    if (!p.init.kind)
      return format("parameter '%s' has no init kind", p.value.name);
  }
  for (const TensorDesc *t : {&model.tokens, &model.targets}) {
    std::string err = checkTensor(model, *t, "the tokens/targets");
    if (!err.empty())
      return err;
    if (t->dtype != DType::i32 || t->numel() != model.microBatch * model.seqLen)
      return format("'%s' is %s %s; expected i32 [%lld, %lld]", t->name, dtypeName(t->dtype),
                    shapeString(*t).c_str(), (long long)model.microBatch, (long long)model.seqLen);
  }
  std::string err = checkTensor(model, model.loss, "the loss");
  if (!err.empty())
    return err;
  if ((model.loss.dtype != DType::f32 && model.loss.dtype != DType::f64) || model.loss.numel() != 1)
    return format("the loss '%s' is %s %s; expected a scalar f32 or f64", model.loss.name,
                  dtypeName(model.loss.dtype), shapeString(model.loss).c_str());
  if (model.pipeline)
    return checkPipeline(model);
  return "";
}

} // namespace ingot::rt
