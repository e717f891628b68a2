#!/usr/bin/env bash
# The loss that status shows during TRAIN is the sample-weighted mean of the
# running epoch's rounds (one round's batch is too noisy to read), and
# last_round_loss is the newest round alone: both recomputed here from the
# coordinator's per-round log lines (--verbose), nothing hard-coded.
source "$(dirname "$0")/daemon_lib.sh" "$1"

start_coord c --verbose --heartbeat-ms 200
start_worker w1 c --heartbeat-ms 200
job=$(hb c submit --synthetic 60 --seq 16 --batch 8 --lr 1e-3 --epochs 2 --head-epochs 1 2>/dev/null) || fail "submit"
wait_for 60 '[[ $(job_state c '"$job"') =~ DONE|FAILED ]]' "job $job finished"
[[ $(job_state c "$job") == DONE ]] || fail "job $job: $(status_json c "$job")"
status_json c "$job" > "$T/status.json"
python3 - "$T/c.log" "$T/status.json" <<'PY' || fail "status loss"
import json, re, sys
log = open(sys.argv[1]).read().splitlines()
j = json.load(open(sys.argv[2]))["jobs"][0]
# the rounds after the last epoch boundary (epoch 1's validation line)
rounds, last_epoch = [], []
for line in log:
    m = re.search(r"round \d+: \d+ tasks, (\d+) samples, loss ([0-9.]+)", line)
    if m: last_epoch.append((int(m.group(1)), float(m.group(2))))
    if re.search(r"epoch \d+: validation chunk accuracy", line):
        rounds.append(last_epoch)
        last_epoch = []
assert len(rounds) == 2 and all(len(r) > 1 for r in rounds), f"epochs of rounds: {[len(r) for r in rounds]}"
ep = rounds[-1]
mean = sum(n * l for n, l in ep) / sum(n for n, _ in ep)
assert abs(j["loss"] - mean) < 1e-3, f"status loss {j['loss']} vs epoch mean {mean}"
assert abs(j["last_round_loss"] - ep[-1][1]) < 1e-3, f"last_round_loss {j['last_round_loss']} vs {ep[-1][1]}"
spread = max(l for _, l in ep) - min(l for _, l in ep)
print(f"status loss {j['loss']:.4f} = mean of epoch 2's {len(ep)} rounds {mean:.4f} "
      f"(rounds spread {spread:.4f}); last_round_loss {j['last_round_loss']:.4f}")
PY
ok "status: loss is the running epoch's mean over its rounds; last_round_loss the newest round"
