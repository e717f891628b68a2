#!/usr/bin/env bash
# test_daemon_confine.sh - a control client cannot make the coordinator read
# outside its dataset roots nor write outside its export root
# (coordinator/confine.c), through real daemons on ipc sockets:
#   - refused at submit, the message naming the path: an absolute path
#     outside (/etc/passwd as --train, --vocab; /etc as --model), a `..`
#     leaving the root, a symlink inside the root pointing out (sent raw by
#     tests/tools/hb_raw_client.c: the real CLI resolves paths first), a
#     relative path; a symlink that stays inside is fine;
#   - what a check by path cannot see is stopped by the kernel (Landlock on
#     the ingest thread): a folder dataset whose class folder holds a
#     symlink to a file outside fails with Permission denied, and a file
#     swapped for a symlink to a secret between the check and the open
#     (a swapper racing 30 submits) never gets read: no job ever holds the
#     secret's label;
#   - export: beneath the export root works; outside, `..`, a symlink
#     leaving it and the root itself are refused;
#   - crafted document ids ("../../x", "/abs") stay keys: no file appears
#     outside the data directory;
#   - file modes: nothing under the data directory or the export is
#     world-accessible; checkpoints and the store are 0640, keygen's secret
#     key 0600.
source "$(dirname "$0")/daemon_lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
RAW=$B/tests/hb-raw-client
R=$T/roots/ds EXP=$T/exp OUT=$T/outside
mkdir -p "$R" "$EXP" "$OUT"
cp "$SRC/tests/data/vocab_small.txt" "$R/vocab.txt"
python3 - "$R" "$OUT" <<'EOF2'
import json, random, sys
r = random.Random(3)
cls = {"alpha": "mail user hello world quick".split(), "beta": "dog fox lazy jumps running".split()}
filler = "the example family player played path end tag brown bad".split()
def docs(n, prefix):
    for i in range(n):
        lab = list(cls)[i % 2]
        yield {"id": f"{prefix}{i:03d}", "text": " ".join(r.choice(cls[lab]) if r.random() < 0.3 else r.choice(filler)
                                                       for _ in range(r.randint(8, 40))), "label": lab}
for name, n in (("train", 24), ("val", 8)):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as f:
        for d in docs(n, name):
            f.write(json.dumps(d) + "\n")
with open(f"{sys.argv[1]}/ids.jsonl", "w") as f:  # crafted document ids
    for i, d in enumerate(docs(24, "x")):
        d["id"] = ["../../../../../../../tmp/hbconfine-pwn-%d" % i, "/tmp/hbconfine-abs-%d" % i, "a/../../b%d" % i][i % 3]
        f.write(json.dumps(d) + "\n")
with open(f"{sys.argv[2]}/secret.jsonl", "w") as f:  # a file the coordinator must never read
    for i in range(24):
        f.write(json.dumps({"id": f"SECRETDOC{i}", "text": "secret words here", "label": "SECRETLABEL"}) + "\n")
EOF2
mkdir -p "$OUT/model" && echo '{"vocab_size": 100}' > "$OUT/model/config.json"

start_coord c --heartbeat-ms 200 --expiry-ms 3000 --checkpoint-every 1 --dataset-roots "$R" --export-root "$EXP"
grep -q "datasets are read only beneath $R, exports written only beneath $EXP" "$T/c.log" ||
  fail "the coordinator does not say its roots: $(grep -i beneath "$T/c.log")"
landlock=0; grep -q "Landlock ABI" "$T/c.log" && landlock=1
ok "coordinator up, dataset root $R, export root $EXP ($( ((landlock)) && echo "Landlock enforced" || echo "no Landlock on this kernel"))"

EP=ipc://$T/c-c
# refused NAME EXPECTED_TEXT raw-client-args...: the submit is refused, naming the path
refused() {
  local name=$1 want=$2; shift 2
  local out rc=0
  out=$("$RAW" "$EP" "$@" 2>&1) || rc=$?
  ((rc == 1)) || fail "$name: not refused (rc $rc): $out"
  [[ $out == *"$want"* ]] || fail "$name: message '$out' does not say '$want'"
  ok "refused, $name: ${out#error 6: }"
}
refused "absolute --train outside" "--train '/etc/passwd' is outside the dataset roots ($R)" \
  submit --train /etc/passwd --vocab "$R/vocab.txt"
refused "absolute --vocab outside" "--vocab '/etc/passwd' is outside" submit --train "$R/train.jsonl" --vocab /etc/passwd
refused "--model outside" "--model '$OUT/model' is outside" submit --train "$R/train.jsonl" --model "$OUT/model"
refused "--val with .. leaving the root" "--val '$R/../../outside/secret.jsonl' resolves to '$OUT/secret.jsonl', outside" \
  submit --train "$R/train.jsonl" --val "$R/../../outside/secret.jsonl" --vocab "$R/vocab.txt"
refused "a missing file beyond .." "--test '$R/../nothing.jsonl' is outside" \
  submit --train "$R/train.jsonl" --test "$R/../nothing.jsonl" --vocab "$R/vocab.txt"
ln -s "$OUT/secret.jsonl" "$R/link-out.jsonl"
refused "a symlink in the root pointing out" "--train '$R/link-out.jsonl' resolves to '$OUT/secret.jsonl'" \
  submit --train "$R/link-out.jsonl" --vocab "$R/vocab.txt"
ln -s "$OUT" "$R/dir-out"
refused "a path through a symlinked directory" "resolves to '$OUT/secret.jsonl'" \
  submit --train "$R/dir-out/secret.jsonl" --vocab "$R/vocab.txt"
refused "a relative path" "--train 'train.jsonl': not an absolute path" submit --train train.jsonl --vocab "$R/vocab.txt"
# the real CLI (paths resolved on the client) is refused the same way
rc=0; out=$(hb c submit --train "$R/link-out.jsonl" --vocab "$R/vocab.txt" --preset tiny --seq 32 2>&1) || rc=$?
((rc != 0)) && [[ $out == *"'$OUT/secret.jsonl' is outside the dataset roots"* ]] ||
  fail "CLI submit of a symlink out: rc $rc, $out"
ok "the CLI's submit of the same symlink is refused too: ${out##*Submit: }"
grep -q "Submit refused: --train '/etc/passwd'" "$T/c.log" || fail "refusals are not logged"
ok "refusals are logged with the path"

# --- a symlink inside the root that stays inside is fine (ingest only: no worker)
ln -s train.jsonl "$R/alias.jsonl"
out=$("$RAW" "$EP" submit --train "$R/alias.jsonl" --val "$R/val.jsonl" --vocab "$R/vocab.txt") ||
  fail "a symlink inside the root refused: $out"
ok "accepted: a symlink that stays inside the root ($out)"

# --- the kernel's half: a folder dataset inside the root with a file that
# is a symlink leaving it (the check sees only the folder)
mkdir -p "$R/folder/alpha" "$R/folder/beta"
echo "hello world mail" > "$R/folder/alpha/1.txt"
echo "dog fox" > "$R/folder/beta/1.txt"
ln -s "$OUT/secret.jsonl" "$R/folder/beta/2.txt"
out=$("$RAW" "$EP" submit --train "$R/folder" --vocab "$R/vocab.txt" 2>&1) && rc=0 || rc=$?
if ((landlock)); then
  ((rc == 1)) && [[ $out == *"$R/folder/beta/2.txt"*"Permission denied"* ]] ||
    fail "a folder dataset with a symlink out was read (rc $rc): $out"
  ok "refused by the kernel: a folder dataset holding a symlink out ($out)"
else
  echo "# no Landlock: a folder's inner symlink is not stopped (rc $rc: $out)"
fi

# ... and a --model directory inside the root whose tokenizer_config.json
# is a symlink out (read at submit, on a confined thread)
mkdir -p "$R/model"
echo '{"do_lower_case": true}' > "$OUT/tokenizer_config.json"
ln -s "$OUT/tokenizer_config.json" "$R/model/tokenizer_config.json"
out=$("$RAW" "$EP" submit --train "$R/train.jsonl" --model "$R/model" 2>&1) && rc=0 || rc=$?
if ((landlock)); then
  ((rc == 1)) && [[ $out == *"$R/model/tokenizer_config.json"*"Permission denied"* ]] ||
    fail "a --model file symlinked out was read (rc $rc): $out"
  ok "refused by the kernel: a --model directory holding a symlink out ($out)"
fi

# --- a file swapped for a symlink to the secret while the coordinator
# checks and opens it: a swapper flips race.jsonl as fast as it can
cp "$R/train.jsonl" "$R/good.jsonl"
cp "$R/good.jsonl" "$R/race.jsonl"
(
  while :; do
    ln -sfn "$OUT/secret.jsonl" "$R/race.tmp" && mv -Tf "$R/race.tmp" "$R/race.jsonl"
    cp "$R/good.jsonl" "$R/race.tmp2" && mv -Tf "$R/race.tmp2" "$R/race.jsonl"
  done
) &
SWAPPER=$!
hb_extra_cleanup() { kill "$SWAPPER" 2>/dev/null || true; }
n_check=0 n_kernel=0 n_ok=0 n_other=0
for i in $(seq 30); do
  out=$("$RAW" "$EP" submit --train "$R/race.jsonl" --val "$R/val.jsonl" --vocab "$R/vocab.txt" 2>&1) && rc=0 || rc=$?
  if [[ $out == *"resolves to '$OUT/secret.jsonl'"* ]]; then n_check=$((n_check + 1))
  elif [[ $out == *"Permission denied"* ]]; then n_kernel=$((n_kernel + 1))
  elif ((rc == 0)); then n_ok=$((n_ok + 1))
  else n_other=$((n_other + 1)); echo "# race submit $i: $out"
  fi
done
kill "$SWAPPER"; wait "$SWAPPER" 2>/dev/null || true
if grep -rqa "SECRETLABEL\|SECRETDOC" "$T/c-data"; then fail "the secret was read: $(grep -rla SECRET "$T/c-data")"; fi
ok "30 submits racing a symlink swap: $n_check refused at the check, $n_kernel past the check and refused by the kernel, $n_ok read the real file, $n_other refused otherwise; the secret never reached the store or a job"
((n_check + n_kernel + n_ok + n_other == 30)) || fail "outcomes do not add up"

# --- a whole job from inside the root, with crafted document ids; then export
start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
job=$(hb c submit --train "$R/ids.jsonl" --val "$R/val.jsonl" --vocab "$R/vocab.txt" --preset tiny --seq 32 \
      --epochs 1 --batch 8 --lr 1e-3 --head-epochs 2 --head-batch 8 2>"$T/submit.err") ||
  fail "submit: $(cat "$T/submit.err")"
wait_for 120 '[[ $(job_state c '"$job"') =~ DONE|FAILED ]]' "job $job finished"
[[ $(job_state c "$job") == DONE ]] || fail "job $job: $(status_json c "$job")"
ls /tmp/hbconfine-* 2>/dev/null && fail "a crafted document id made a file outside the data directory"
n_ids=$("$CLI" store dump "$T/c-data/store" --job "$job" | grep -c '^docs/.*hbconfine' || true)
((n_ids == 16)) || fail "crafted ids: $n_ids of 16 in the store as keys"
ok "job $job DONE with 24 crafted document ids ('../../../tmp/...', '/tmp/...', 'a/../../b'): 16 stored as keys, no file outside the data directory"

hb c export "$job" "$EXP/m1" >/dev/null || fail "export beneath the export root"
[[ -s $EXP/m1/model.safetensors ]] || fail "export: no model.safetensors"
ok "export beneath the export root: $EXP/m1"
refused "export outside" "export '$OUT/m2' is not beneath the export root $EXP" export "$job" "$OUT/m2"
refused "export with .." "export '$EXP/../outside/m3' is not beneath the export root" export "$job" "$EXP/../outside/m3"
ln -s "$OUT" "$EXP/out-link"
refused "export through a symlink leaving the root" "export '$EXP/out-link/m4' resolves to '$OUT/m4', not beneath" \
  export "$job" "$EXP/out-link/m4"
refused "export onto the export root itself" "not beneath the export root" export "$job" "$EXP"
[[ ! -e $OUT/m2 && ! -e $OUT/m3 && ! -e $OUT/m4 ]] || fail "a refused export wrote something"

# --- file modes
bad=$(find "$T/c-data" "$EXP/m1" -perm /o=rwx -print)
[[ -z $bad ]] || fail "world-accessible under the data directory or the export: $bad"
modes=$(stat -c '%a %n' "$T/c-data/store/data.mdb" "$T/c-data"/jobs/*/checkpoint.bin 2>/dev/null | awk '{print $1}' | sort -u | tr '\n' ' ')
[[ $modes == "640 " ]] || fail "store and checkpoint modes: $modes ($(stat -c '%a %n' "$T/c-data/store/data.mdb" "$T/c-data"/jobs/*/checkpoint.bin))"
n_ck=$(ls "$T/c-data"/jobs/*/checkpoint.bin 2>/dev/null | wc -l)
((n_ck >= 1)) || fail "no checkpoint written ($(ls "$T/c-data"/jobs/*))"
"$CLI" keygen "$T/k" >/dev/null || fail "keygen"
[[ $(stat -c %a "$T/k.key") == 600 ]] || fail "secret key mode $(stat -c %a "$T/k.key")"
ok "modes: nothing world-accessible under the data directory or the export; store and $n_ck checkpoint(s) 0640; keygen's .key 0600, .pub $(stat -c %a "$T/k.pub")"
