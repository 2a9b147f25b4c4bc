//===- CollectiveDialect.td - The collective dialect ---------*- tablegen -*-===//
//
// The `collective` dialect: communicators bound to rank groups of the cluster map, and
// asynchronous collectives and point-to-point transfers with explicit completion tokens.
//
//===----------------------------------------------------------------------===//

#ifndef INGOT_COLLECTIVE_DIALECT_TD
#define INGOT_COLLECTIVE_DIALECT_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/OpBase.td"

def Collective_Dialect : Dialect {
  let name = "collective";
  let cppNamespace = "::ingot::collective";
  let summary = "Communicators, asynchronous collectives and point-to-point transfers";
  let description = [{
    Every byte that moves between ranks of an Ingot trainer is a `collective`
    operation: the pipeline's activation and gradient transfers, the
    data-parallel gradient reduction, and the few cross-stage reductions a
    correct pipeline step needs (the global gradient norm, tied weights, the
    non-finite decision). The cuda target lowers them to NCCL, the host target
    to MPI.

    A `collective.comm` names a group of ranks by its place in the layout
    (rank = stage * data + replica), never by listing ranks, so a plan for
    220,000 ranks is as small as one for 8: `data` is the replicas of this
    rank's stage, `pipeline` the stages of this rank's replica, `stages` a
    subset of those stages, `world` every rank.

    Operations work on buffers (memrefs: the memory plan fixes where each
    lives) and are asynchronous: each `*_start` returns a
    `!collective.token`, and `collective.wait` blocks until the operation is
    complete and its buffers may be read or reused. Every token is waited
    exactly once, so the compiler knows where each transfer ends.
  }];
  let useDefaultTypePrinterParser = 1;
}

class Collective_Op<string mnemonic, list<Trait> traits = []>
    : Op<Collective_Dialect, mnemonic, traits>;

def Collective_TokenType : TypeDef<Collective_Dialect, "Token"> {
  let mnemonic = "token";
  let summary = "The completion of one asynchronous collective";
  let description = [{
    Returned by each `*_start` operation and consumed by exactly one
    `collective.wait`.
  }];
}

#endif // INGOT_COLLECTIVE_DIALECT_TD
