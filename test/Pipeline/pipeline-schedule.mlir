// pipeline-schedule on Inputs/four-layers.mlir split over two stages, three micro-batches: the
// stage programs of each schedule, with the transfers between the stages.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule | FileCheck %s --check-prefix=GPIPE
// GPipe: every forward, then every backward.
// GPIPE:      pipeline.plan stages 2 chunks 1 microbatches 3 schedule "gpipe" {
// GPIPE:      pipeline.program stage 0 {
// GPIPE-NEXT:   pipeline.forward microbatch 0 chunk 0
// GPIPE-NEXT:   pipeline.send_activation microbatch 0 chunk 0 to 1
// GPIPE-NEXT:   pipeline.forward microbatch 1 chunk 0
// GPIPE-NEXT:   pipeline.send_activation microbatch 1 chunk 0 to 1
// GPIPE-NEXT:   pipeline.forward microbatch 2 chunk 0
// GPIPE-NEXT:   pipeline.send_activation microbatch 2 chunk 0 to 1
// GPIPE-NEXT:   pipeline.recv_grad microbatch 0 chunk 1 from 1
// GPIPE-NEXT:   pipeline.backward microbatch 0 chunk 0
// GPIPE:      pipeline.program stage 1 {
// GPIPE-NEXT:   pipeline.recv_activation microbatch 0 chunk 0 from 0
// GPIPE-NEXT:   pipeline.forward microbatch 0 chunk 1
// GPIPE-NEXT:   pipeline.recv_activation microbatch 1 chunk 0 from 0
// GPIPE-NEXT:   pipeline.forward microbatch 1 chunk 1

// 1F1B: stage 0 warms up with one forward (P - 0 - 1), then alternates; the last stage
// alternates from the start. The option overrides ingot.parallel's schedule.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule=schedule=1f1b | FileCheck %s --check-prefix=ONE
// ONE:      pipeline.program stage 0 {
// ONE-NEXT:   pipeline.forward microbatch 0 chunk 0
// ONE-NEXT:   pipeline.send_activation microbatch 0 chunk 0 to 1
// ONE-NEXT:   pipeline.forward microbatch 1 chunk 0
// ONE-NEXT:   pipeline.send_activation microbatch 1 chunk 0 to 1
// ONE-NEXT:   pipeline.recv_grad microbatch 0 chunk 1 from 1
// ONE-NEXT:   pipeline.backward microbatch 0 chunk 0
// ONE-NEXT:   pipeline.forward microbatch 2 chunk 0
// ONE:      pipeline.program stage 1 {
// ONE-NEXT:   pipeline.recv_activation microbatch 0 chunk 0 from 0
// ONE-NEXT:   pipeline.forward microbatch 0 chunk 1
// ONE-NEXT:   pipeline.backward microbatch 0 chunk 1
// ONE-NEXT:   pipeline.send_grad microbatch 0 chunk 1 to 0
// ONE-NEXT:   pipeline.recv_activation microbatch 1 chunk 0 from 0

// ZB-H1: the backward split; stage s runs W of micro-batch j after B of j + s, so the last
// stage sends each gradient without waiting for its weight work.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/zb-h1/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule | FileCheck %s --check-prefix=ZB
// ZB:      pipeline.program stage 0 {
// ZB:        pipeline.recv_grad microbatch 0 chunk 1 from 1
// ZB-NEXT:   pipeline.backward_input microbatch 0 chunk 0
// ZB-NEXT:   pipeline.backward_weight microbatch 0 chunk 0
// ZB:      pipeline.program stage 1 {
// ZB-NEXT:   pipeline.recv_activation microbatch 0 chunk 0 from 0
// ZB-NEXT:   pipeline.forward microbatch 0 chunk 1
// ZB-NEXT:   pipeline.backward_input microbatch 0 chunk 1
// ZB-NEXT:   pipeline.send_grad microbatch 0 chunk 1 to 0
// ZB-NEXT:   pipeline.recv_activation microbatch 1 chunk 0 from 0
// ZB-NEXT:   pipeline.forward microbatch 1 chunk 1
// ZB-NEXT:   pipeline.backward_input microbatch 1 chunk 1
// ZB-NEXT:   pipeline.send_grad microbatch 1 chunk 1 to 0
// ZB-NEXT:   pipeline.backward_weight microbatch 0 chunk 1
// ZB:        pipeline.backward_weight microbatch 2 chunk 1
// ZB-NEXT: }

// Interleaved, two chunks per stage: micro-batches 0 and 1 go through chunk 0 (stage 0), then
// chunk 2 (stage 0 again) before the backward begins, in Megatron-LM's order.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/2/;s/@CHUNKS@/2/;s/@SCHEDULE@/interleaved/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule | FileCheck %s --check-prefix=INTER
// INTER:      pipeline.program stage 0 {
// INTER-NEXT:   pipeline.forward microbatch 0 chunk 0
// INTER-NEXT:   pipeline.send_activation microbatch 0 chunk 0 to 1
// INTER-NEXT:   pipeline.forward microbatch 1 chunk 0
// INTER-NEXT:   pipeline.send_activation microbatch 1 chunk 0 to 1
// INTER-NEXT:   pipeline.recv_activation microbatch 0 chunk 1 from 1
// INTER-NEXT:   pipeline.forward microbatch 0 chunk 2
// INTER-NEXT:   pipeline.send_activation microbatch 0 chunk 2 to 1
// INTER:      pipeline.program stage 1 {
// INTER:        pipeline.forward microbatch 0 chunk 3
// INTER-NEXT:   pipeline.backward microbatch 0 chunk 3
// INTER-NEXT:   pipeline.send_grad microbatch 0 chunk 3 to 0

// Layouts a schedule cannot run, located at the plan (the module's location here).
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/2/;s/@SCHEDULE@/interleaved/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule 2>&1 | FileCheck %s --check-prefix=GROUPS
// GROUPS: <stdin>:7:1: error: schedule "interleaved" runs micro-batches in groups of the stage count: microbatches = 3 is not a multiple of stages = 2
// RUN: sed 's/@STAGES@/4/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/zb-h1/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule 2>&1 | FileCheck %s --check-prefix=FEW
// FEW: <stdin>:7:1: error: schedule "zb-h1" needs at least as many micro-batches as stages: microbatches = 3 < stages = 4
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule=schedule=pipedream 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: <stdin>:7:1: error: unknown schedule "pipedream"; the schedules are gpipe, 1f1b, interleaved and zb-h1
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/gpipe/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | not ingot-opt -ingot-autodiff -pipeline-schedule 2>&1 | FileCheck %s --check-prefix=PLAN
// PLAN: error: pipeline-schedule needs a pipeline.plan (run pipeline-partition first)

// pipeline-simulate reports the prediction of a written plan.
// RUN: sed 's/@STAGES@/2/;s/@DATA@/1/;s/@MICRO@/3/;s/@CHUNKS@/1/;s/@SCHEDULE@/1f1b/;s/@MEMORY@/1000000000/' %S/Inputs/four-layers.mlir \
// RUN:   | ingot-opt -ingot-autodiff -pipeline-partition -pipeline-schedule -pipeline-simulate 2>&1 >/dev/null | FileCheck %s --check-prefix=SIM
// SIM: <stdin>:7:1: remark: predicted step {{[0-9.]+}} ms, bubble {{[0-9.]+}}% of the step
