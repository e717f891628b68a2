#!/usr/bin/env bash
# HTTP /metrics (coordinator --metrics HOST:PORT), scraped over real TCP
# while a real job runs on a real worker:
#   - every line is valid Prometheus text format 0.0.4 (HELP/TYPE before a
#     family's samples, one family in one block, no series twice);
#   - the figures are the status endpoint's: workers, the job's state, step
#     and validation accuracy, compared with `status --json` (nothing
#     hard-coded);
#   - other paths answer 404, other methods 405; a bad --metrics value stops
#     the coordinator at start with a one-line reason.
source "$(dirname "$0")/daemon_lib.sh" "$1"

out=$("$COORD" --metrics nonsense --data-dir "$T/bad" 2>&1) && fail "--metrics nonsense accepted"
[[ $(wc -l <<<"$out") == 1 && $out == *"expected HOST:PORT"* ]] || fail "bad --metrics message: $out"
ok "a bad --metrics value: one line, exit non-zero: $out"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_coord c --metrics "127.0.0.1:$PORT" --heartbeat-ms 200
start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
job=$(hb c submit --synthetic 120 --seq 32 --batch 8 --epochs 2 --lr 1e-3 --name "m\"etrics" 2>>"$T/c.log")
wait_for 90 '[[ $(job_state c '"$job"') == DONE ]]' "job $job DONE"
status_json c > "$T/status.json"

python3 - "$PORT" "$T/status.json" "$job" <<'EOF' || fail "metrics"
import json, re, sys, urllib.request, urllib.error
port, st, job = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
url = f"http://127.0.0.1:{port}"
r = urllib.request.urlopen(url + "/metrics", timeout=10)
assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
text = r.read().decode()
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$')
fam, typed, done, series, vals = None, {}, set(), set(), {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        name = line.split()[2]
        assert name not in done and name not in typed, f"family {name} twice"
        if fam: done.add(fam)
        fam = name
        continue
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split()
        assert name == fam and typ in ("gauge", "counter"), line
        typed[name] = typ
        continue
    m = sample.match(line)
    assert m, f"not a sample line: {line!r}"
    name, labels, value = m.group(1), m.group(2) or "", m.group(4)
    assert name == fam and name in typed, f"{name} outside its family block ({fam})"
    float(value)
    assert (name, labels) not in series, f"series twice: {line}"
    series.add((name, labels))
    vals[name + labels] = float(value)
j = st["jobs"][0]
want = {
    "hierbert_up": 1,
    "hierbert_workers": len(st["workers"]),
    f'hierbert_job_step{{job="{job}"}}': j["step"],
    f'hierbert_job_total_steps{{job="{job}"}}': j["total_steps"],
    f'hierbert_job_train_docs{{job="{job}"}}': j["train_docs"],
    f'hierbert_job_val_chunk_accuracy{{job="{job}",epoch="2"}}': j["val_chunk_accuracy"][1],
    f'hierbert_job_info{{job="{job}",name="m\\"etrics",state="DONE"}}': 1,
}
for k, v in want.items():
    assert k in vals, f"{k} missing; have {sorted(vals)[:40]}"
    assert abs(vals[k] - v) <= 1e-9 * max(1, abs(v)), f"{k} = {vals[k]}, status says {v}"
w = st["workers"][0]
key = f'hierbert_worker_tasks_done_total{{worker="{w["id"]}",host="{w["host"]}"}}'
assert key in vals and vals[key] >= 1, f"{key}: {vals.get(key)}"
for path, method, code in (("/nothing", "GET", 404), ("/metrics", "POST", 405), ("/api/status", "POST", 405)):
    try:
        urllib.request.urlopen(urllib.request.Request(url + path, method=method, data=b"" if method == "POST" else None), timeout=10)
        raise AssertionError(f"{method} {path} answered 200")
    except urllib.error.HTTPError as e:
        assert e.code == code, f"{method} {path}: {e.code}, expected {code}"
print(f"ok - /metrics: {len(series)} series in {len(typed)} families, valid text format; "
      f"workers, job state/step/docs/val accuracy equal status --json; 404 and 405 elsewhere")
EOF
