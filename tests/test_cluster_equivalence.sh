#!/usr/bin/env bash
# Distributed equivalence, with real processes over real sockets: SGD,
# sync_every = 1, dropout 0, the real BERT encoder (tiny preset shrunk to a
# 256-token vocabulary, L = 32). Two workers with batch b = 4 each must end
# with the same parameters as one worker with batch 2b = 8 after 20 steps,
# within 1e-5 relative (max |A-B| / max |B| over every parameter). The same
# data order holds by construction: each step's global batch is cut into
# contiguous per-worker slices (coordinator/rounds.c). A third run, one step
# shorter, shows the comparison is sensitive: it must differ by far more.
source "$(dirname "$0")/daemon_lib.sh" "$1"
PY="python3 $(dirname "$0")/ckpt.py"

job_args=(--synthetic 100 --seq 32 --batch 8 --optimizer sgd --lr 0.05 --dropout 0 --epochs 5 --seed 7)

CK=
run() { # name nworkers max_steps -> CK (no $(...): daemons must stay in this shell, under its trap)
  local n=$1 w=$2 steps=$3
  start_coord "$n" --heartbeat-ms 200
  for i in $(seq "$w"); do start_worker "$n-w$i" "$n" --heartbeat-ms 200; done
  local job
  job=$(hb "$n" submit "${job_args[@]}" --max-steps "$steps" --min-workers "$w" 2>>"$T/$n.log")
  wait_for 120 '[[ $(job_state '"$n"' '"$job"') == DONE ]]' "job of $n done"
  for i in $(seq "$w"); do stop "$n-w$i"; done
  stop "$n"
  grep -q "round 1: $w tasks" "$T/$n.log" || grep -q "TRAIN done" "$T/$n.log" || fail "$n: no rounds"
  CK="$T/$n-data/jobs/$(printf %06d "$job")/checkpoint.bin"
}

run one 1 20; one=$CK
run two 2 20; two=$CK
run short 1 19; short=$CK
read -r r d s1 s2 n <<<"$($PY "$two" "$one")"
[[ $s1 == 20 && $s2 == 20 ]] || fail "steps $s1 / $s2, expected 20"
python3 -c "import sys; sys.exit(0 if $r <= 1e-5 else 1)" \
  || fail "2 workers x batch 4 vs 1 worker x batch 8: relative difference $r (max abs $d) > 1e-5"
ok "2 workers x batch 4 == 1 worker x batch 8 after 20 SGD steps: max rel diff $r (max abs $d) over $n parameters"
read -r r3 d3 _ _ _ <<<"$($PY "$short" "$one")"
python3 -c "import sys; sys.exit(0 if $r3 > 100 * max($r, 1e-9) else 1)" \
  || fail "19 vs 20 steps differ by only $r3: the comparison cannot tell runs apart"
ok "sensitivity: 19 vs 20 steps differ by $r3 relative (>100x the tolerance gap)"
