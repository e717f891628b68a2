#!/usr/bin/env bash
# The optimizer options of issue 13 through the real CLI and daemons:
# --schedule, --clip-norm and --weight-decay refused with a clear message
# when bad (nothing reaches the store); accepted ones recorded in the job's
# status and result ("optim"), and they reach the step that is taken: the
# same seeded job under another schedule or without clipping trains to
# another loss, both when the coordinator steps (gradient averaging) and
# when the workers do (parameter averaging, the schedule sent in ModelSpec).
source "$(dirname "$0")/daemon_lib.sh" "$1"

start_coord c --heartbeat-ms 200 --expiry-ms 3000

# --- bad values: the CLI refuses them, nothing is submitted -------------------
check_refused() { # expected-message args...
  local want=$1; shift
  out=$(hb c submit --synthetic 40 "$@" 2>&1) && fail "submit $* accepted"
  [[ $out == *"$want"* ]] || fail "submit $*: '$out' (expected '$want')"
  echo "  refused: $*  ->  $out"
}
check_refused "--schedule step: constant, linear or cosine" --schedule step
check_refused "--schedule : constant, linear or cosine" --schedule ""
check_refused "--clip-norm -1: expected a number in 0..100000" --clip-norm -1
check_refused "--clip-norm nan: expected a number" --clip-norm nan
check_refused "--weight-decay 1.5: expected a number in 0..0.999" --weight-decay 1.5
check_refused "--weight-decay x: expected a number" --weight-decay x
[[ $(hb c list | wc -l) == 1 ]] || fail "a refused submit left a job: $(hb c list)"
st=$("$CLI" store stats "$T/c-data/store")
grep -qx "entries_docs:0" <<<"$st" && grep -qx "entries_jobs:0" <<<"$st" || fail "refused submits left data: $st"
ok "bad --schedule / --clip-norm / --weight-decay refused with the value and the choices; no job, no documents"

# --- accepted values: recorded, and they change the training -------------------
start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
run() { # name args... -> prints the job id once DONE
  local j
  j=$(hb c submit --synthetic 64 --seq 16 --batch 8 --lr 3e-3 --epochs 3 --warmup 0.1 --seed 5 --head-epochs 2 \
      --name "$1" "${@:2}" 2>"$T/submit-$1.err") || fail "submit $1: $(cat "$T/submit-$1.err")"
  wait_for 90 "[[ \$(job_state c $j) == DONE ]]" "job $1 DONE"
  echo "$j"
}
declare -A LOSS=()
for avg in grads params; do
  extra=()
  [[ $avg == params ]] && extra=(--sync-every 2 --average params)
  jl=$(run "linear-$avg" --schedule linear --clip-norm 1 "${extra[@]}")
  [[ $avg == grads ]] && first_job=$jl
  jc=$(run "constant-$avg" --weight-decay 0.01 "${extra[@]}")   # the defaults: constant, no clipping
  jk=$(run "cosine-$avg" --schedule cosine --clip-norm 0.25 "${extra[@]}")
  for j in "$jl" "$jc" "$jk"; do
    status_json c "$j" >"$T/st-$j.json"
    hb c result "$j" --json >"$T/res-$j.json"
  done
  fmt='"%s %s %g %g %g" % tuple(o[k] for k in ("optimizer", "schedule", "clip_norm", "weight_decay", "lr"))'
  o=$(json_get "(lambda o: $fmt)(d['jobs'][0]['optim'])" <"$T/st-$jl.json")
  [[ $o == "adamw linear 1 0 0.003" ]] || fail "linear job's status: $o"
  o=$(json_get "(lambda o: $fmt)(d['optim'])" <"$T/res-$jc.json")
  [[ $o == "adamw constant 0 0.01 0.003" ]] || fail "the default job's result (constant, no clipping): $o"
  o=$(json_get "(lambda o: $fmt)(d['optim'])" <"$T/res-$jk.json")
  [[ $o == "adamw cosine 0.25 0 0.003" ]] || fail "cosine job's result: $o"
  for j in "$jl" "$jc" "$jk"; do
    LOSS[$avg-$j]=$(json_get '"%.9f" % d["jobs"][0]["loss"]' <"$T/st-$j.json")
  done
  [[ ${LOSS[$avg-$jl]} != "${LOSS[$avg-$jc]}" && ${LOSS[$avg-$jl]} != "${LOSS[$avg-$jk]}" &&
     ${LOSS[$avg-$jc]} != "${LOSS[$avg-$jk]}" ]] \
    || fail "$avg: the settings did not change training: losses ${LOSS[$avg-$jl]} ${LOSS[$avg-$jc]} ${LOSS[$avg-$jk]}"
  ok "$avg averaging: linear/clip 1, the defaults (constant, no clipping) with wd 0.01 and cosine/clip 0.25 recorded in status and" \
     "result; last-epoch losses ${LOSS[$avg-$jl]} / ${LOSS[$avg-$jc]} / ${LOSS[$avg-$jk]} (all different)"
done

# the same job twice gives the same loss: the differences above are the settings, not noise
jr=$(run "linear-again" --schedule linear --clip-norm 1)
status_json c "$jr" >"$T/st-$jr.json"
again=$(json_get '"%.9f" % d["jobs"][0]["loss"]' <"$T/st-$jr.json")
first=$(json_get '"%.9f" % d["jobs"][0]["loss"]' <"$T/st-$first_job.json")
[[ $again == "$first" ]] || fail "the same job gave losses $first and $again"
ok "the same seeded job again: loss $again, the same to 9 digits"
