#!/usr/bin/env bash
# Distributed equivalence, with real processes over real sockets: SGD,
# sync_every = 1, dropout 0, the real BERT encoder (tiny preset shrunk to a
# 256-token vocabulary, L = 32). Two workers with batch b = 4 each must end
# with the same parameters as one worker with batch 2b = 8 after 20 steps,
# within 1e-5 relative (max |A-B| / max |B| over every parameter). The same
# data order holds by construction: each step's global batch is cut into
# contiguous per-worker slices (coordinator/rounds.c). A third run, one step
# shorter, shows the comparison is sensitive: it must differ by far more.
#
# Then AdamW (lr 1e-3, clipping at 1, active: the runs' largest gradient
# norm is checked above 1): with gradient averaging reduced by sharding
# (the default: each worker sums, clips and steps one shard of the
# parameters and sends it to the others) 2, 3 and 4 workers == 1 worker x 8
# to 2e-6 (measured 2e-7..9e-7: the slices' products sum their rows in
# another order than one batch of 8, and the owners add the workers' parts
# in shard order), and so does the coordinator path (--reduce
# coordinator); sharded == the coordinator path to 1e-6; with
# --average params (each worker an AdamW step on its part, parameters
# averaged) it is a different, measurably different step - the reason
# gradient averaging is the default.
# Two runs of the 3-worker job are bit-identical (the owners sum in shard
# order, whatever order the parts arrive in).
# Last, --wire bf16 (2 workers): half the peer bytes of the fp32 wire and
# parameters within 1e-2 relative of it (measured 1.5e-3), yet not equal.
source "$(dirname "$0")/daemon_lib.sh" "$1"
PY="python3 $(dirname "$0")/ckpt.py"

job_args=(--synthetic 100 --seq 32 --batch 8 --dropout 0 --epochs 5 --seed 7)
sgd=(--optimizer sgd --lr 0.05)
adamw=(--optimizer adamw --lr 1e-3 --clip-norm 1)

CK=
run() { # name nworkers max_steps submit-args... -> CK (no $(...): daemons must stay in this shell, under its trap)
  local n=$1 w=$2 steps=$3
  shift 3
  start_coord "$n" --heartbeat-ms 200
  for i in $(seq "$w"); do start_worker "$n-w$i" "$n" --heartbeat-ms 200; done
  local job
  job=$(hb "$n" submit "${job_args[@]}" "$@" --max-steps "$steps" --min-workers "$w" 2>>"$T/$n.log")
  wait_for 120 '[[ $(job_state '"$n"' '"$job"') == DONE ]]' "job of $n done"
  PEER=$(hb "$n" status --json 2>/dev/null |
         json_get 'sum(w.get("peer_bytes_out", 0) + w.get("peer_bytes_in", 0) for w in d.get("workers", []))') || PEER=0
  for i in $(seq "$w"); do stop "$n-w$i"; done
  NORM=$(hb "$n" status "$job" --json 2>/dev/null | json_get 'd["jobs"][0].get("grad_norm_max", 0)') || NORM=0
  stop "$n"
  grep -q "round 1: $w tasks" "$T/$n.log" || grep -q "TRAIN done" "$T/$n.log" || fail "$n: no rounds"
  CK="$T/$n-data/jobs/$(printf %06d "$job")/checkpoint.bin"
}

R=
same() { # A B what [tol] -> R: A and B both 20 steps in, within tol (1e-5) relative
  local r d s1 s2 n tol=${4:-1e-5}
  read -r r d s1 s2 n <<<"$($PY "$1" "$2")"
  [[ $s1 == 20 && $s2 == 20 ]] || fail "$3: steps $s1 / $s2, expected 20"
  python3 -c "import sys; sys.exit(0 if $r <= $tol else 1)" || fail "$3: relative difference $r (max abs $d) > $tol"
  ok "$3: max rel diff $r (max abs $d) over $n parameters"
  R=$r
}
apart() { # A B gap what: A and B differ by more than 100x the gap
  local r
  read -r r _ _ _ _ <<<"$($PY "$1" "$2")"
  python3 -c "import sys; sys.exit(0 if $r > 100 * max($3, 1e-9) else 1)" \
    || fail "$4 differ by only $r: the comparison cannot tell them apart"
  ok "$4 differ by $r relative (>100x the tolerance gap)"
}

run one 1 20 "${sgd[@]}"; one=$CK
run two 2 20 "${sgd[@]}"; two=$CK
run short 1 19 "${sgd[@]}"; short=$CK
same "$two" "$one" "SGD: 2 workers x batch 4 == 1 worker x batch 8 after 20 steps"
apart "$short" "$one" "$R" "sensitivity: 19 and 20 SGD steps"

run aone 1 20 "${adamw[@]}"; aone=$CK
python3 -c "import sys; sys.exit(0 if $NORM > 1 else 1)" || fail "clipping never active: largest gradient norm $NORM"
ok "AdamW: clipping at 1 is active (largest gradient norm $NORM)"
run atwo 2 20 "${adamw[@]}"; atwo=$CK; PEER_atwo=$PEER
run athree 3 20 "${adamw[@]}"; athree=$CK
run athree2 3 20 "${adamw[@]}"; athree2=$CK
run afour 4 20 "${adamw[@]}"; afour=$CK
run acoord 2 20 "${adamw[@]}" --reduce coordinator; acoord=$CK
run aparams 2 20 "${adamw[@]}" --average params; aparams=$CK
for n in atwo athree afour; do
  grep -q "sharded reduction" "$T/$n.log" || fail "$n: the coordinator did not log sharded reduction"
  grep -q "shard plan .* ready" "$T/$n.log" || fail "$n: no shard plan became ready"
  grep -q "sharded reduction off" "$T/$n.log" && fail "$n: fell back to the coordinator"
  grep -q "rows came pushed" "$T/$n"-w*.log || fail "$n: no worker took an owner's pushed rows (TrainTask.next_rows)"
done
ok "sharded: the owners' pushed rows were taken (2, 3 and 4 workers)"
grep -q "reduced by the coordinator" "$T/acoord.log" || fail "acoord: --reduce coordinator did not reach the coordinator"
grep -q "parameter averaging" "$T/aparams.log" || fail "aparams: --average params did not reach the coordinator"
same "$atwo" "$aone" "AdamW, sharded: 2 workers x batch 4 == 1 worker x batch 8 after 20 steps" 2e-6
same "$athree" "$aone" "AdamW, sharded: 3 workers (3+3+2) == 1 worker x batch 8 after 20 steps" 2e-6
# the owners add their peers' parts in shard order, not arrival order (with
# 3 workers an owner adds 3 parts: arrival order would change the bits)
cmp -s "$athree" "$athree2" || fail "two runs of the same sharded job differ ($($PY "$athree" "$athree2"))"
ok "AdamW, sharded, 3 workers: two runs of the same job end with bit-identical checkpoints"
same "$afour" "$aone" "AdamW, sharded: 4 workers x batch 2 == 1 worker x batch 8 after 20 steps" 2e-6
same "$acoord" "$aone" "AdamW, reduced by the coordinator: 2 workers x batch 4 == 1 worker x batch 8" 2e-6
same "$acoord" "$atwo" "AdamW, 2 workers: sharded == coordinator path" 1e-6
apart "$aparams" "$aone" "$R" "AdamW: parameter averaging of per-worker steps and one worker's steps"
# without clipping an owner steps as soon as its own sum is in (no wait for
# the other owners' norms): the same step, and the same norm reported
noclip=(--optimizer adamw --lr 1e-3 --clip-norm 0)
# (one worker and the coordinator path compute no norm without clipping)
run none 1 20 "${noclip[@]}"; none=$CK
run ntwo 2 20 "${noclip[@]}"; ntwo=$CK; NORM_two=$NORM
run nthree 3 20 "${noclip[@]}"; nthree=$CK; NORM_three=$NORM
grep -q "sharded reduction off" "$T/nthree.log" "$T/ntwo.log" && fail "ntwo/nthree: fell back to the coordinator"
same "$ntwo" "$none" "AdamW, no clipping, sharded: 2 workers == 1 worker x batch 8 after 20 steps" 2e-6
same "$nthree" "$none" "AdamW, no clipping, sharded: 3 workers == 1 worker x batch 8 after 20 steps" 2e-6
python3 -c "import sys; a, b = $NORM_two, $NORM_three; sys.exit(0 if a > 0 and abs(a - b) <= 1e-4 * a else 1)" \
  || fail "no clipping: largest gradient norm $NORM_three (3 workers) vs $NORM_two (2 workers)"
ok "no clipping: the owners report the global gradient norm (largest: 3 workers $NORM_three, 2 workers $NORM_two)"
apart "$nthree" "$athree" 1e-6 "clipping at 1 and no clipping"
# --wire bf16: the gradients (with error feedback) and the updated shards
# cross in bfloat16 - half the peer bytes - and the weights stay fp32:
# a run near the fp32 wire's, not equal to it
fp32_peer=$PEER_atwo
run awire 2 20 "${adamw[@]}" --wire bf16; awire=$CK
grep -q "sharded reduction off" "$T/awire.log" && fail "awire: fell back to the coordinator"
python3 - "$PEER" "$fp32_peer" <<'PY' || fail "bf16 wire: peer bytes $PEER, fp32 wire $fp32_peer: not about half"
import sys
b, f = float(sys.argv[1]), float(sys.argv[2])
print(f"bf16 wire {b:.0f} B, fp32 wire {f:.0f} B: {b / f:.3f}")
sys.exit(0 if f > 0 and 0.45 <= b / f <= 0.6 else 1)
PY
ok "bf16 wire: peer bytes $PEER against $fp32_peer on the fp32 wire"
same "$awire" "$atwo" "AdamW, sharded, bf16 wire near the fp32 wire (bf16 rounding: 2^-8 relative per value; measured 1.5e-3)" 1e-2
apart "$awire" "$atwo" 1e-7 "the bf16 and fp32 wires"
