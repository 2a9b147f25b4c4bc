//===- CheckpointManifestFuzzer.cpp - libFuzzer target for manifest.bin ---===//
//
// Arbitrary bytes through parseManifest (the checkpoint manifest reader, from memory) against a
// two-parameter model like the runtime tests' LinearModel, which the corpus's manifests match:
// CheckpointError is expected, crashes, hangs and sanitizer reports are not.
//
//===----------------------------------------------------------------------===//
#include "src/Checkpoint.h"
#include "src/Error.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

using namespace ingot::rt;

namespace {
TensorDesc tensor(const char *name, std::initializer_list<int64_t> shape, uint64_t offset) {
  TensorDesc t;
  std::memset(&t, 0, sizeof(t));
  t.name = name;
  t.dtype = DType::f32;
  t.rank = int(shape.size());
  int64_t n = 1;
  int i = 0;
  for (int64_t d : shape)
    n *= (t.shape[i++] = d);
  t.offset = offset;
  t.bytes = uint64_t(n) * 4;
  return t;
}

struct FuzzModel {
  ParamDesc params[2];
  ModelDesc desc;
  FuzzModel() {
    std::memset(params, 0, sizeof(params));
    params[0].value = tensor("proj.w", {1, 2}, 0);
    params[0].grad = tensor("proj.w.grad", {1, 2}, 512);
    params[0].m = tensor("proj.w.m", {1, 2}, 1024);
    params[0].v = tensor("proj.w.v", {1, 2}, 1536);
    params[1].value = tensor("proj.b", {1}, 256);
    params[1].grad = tensor("proj.b.grad", {1}, 768);
    params[1].m = tensor("proj.b.m", {1}, 1280);
    params[1].v = tensor("proj.b.v", {1}, 1792);
    std::memset(&desc, 0, sizeof(desc));
    desc.name = "linear";
    desc.target = "host";
    desc.sourceHash = 0x1234abcd;
    desc.computeType = DType::f32;
    desc.numParams = 2;
    desc.params = params;
    desc.arenaBytes = 2816;
  }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const FuzzModel model;
  try {
    (void)parseManifest(model.desc, data, size, "fuzz/step_00000001");
  } catch (const CheckpointError &) {
  }
  return 0;
}
