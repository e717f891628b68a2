#!/usr/bin/env bash
# The dashboard in a real browser: a coordinator with its HTTP port, two
# workers, a small real job (synthetic documents, 3 epochs, 8 HEAD epochs);
# when it is DONE:
#   - /api/result?job=N is exactly what `hierbert result N --json` prints,
#     /api/status's job is `hierbert status --json`'s (the same fields, the
#     same epochs); a bad job id is a 400, a POST a 405, an unknown job an
#     error object;
#   - headless Chromium (Debian's chromium) opens the page and the DOM it
#     built holds: the job's row (state DONE, its phase), charts with one
#     point per epoch (TRAIN loss and validation chunk accuracy: 3, with the
#     status values; HEAD loss and document accuracy: the result's
#     head_epochs), the accuracy and per-class tables and every confusion
#     matrix cell equal to `result --json`, both workers, the store's
#     document count;
#   - a screenshot of it: $HB_BUILD_DIR/dashboard.png (build/dashboard.png).
# Skipped, with the reason, where Chromium is missing or cannot start.
source "$(dirname "$0")/daemon_lib.sh" "$1"

chrome=
for c in chromium chromium-browser google-chrome; do command -v "$c" >/dev/null && { chrome=$c; break; }; done
[[ -n $chrome ]] || { echo "SKIP: no chromium on this machine (ops/install-deps.sh installs Debian's)"; exit 0; }
# root needs --no-sandbox; the profile lives in the test's temp dir
CH=("$chrome" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir="$T/chrome")
if ! timeout 60 "${CH[@]}" --dump-dom 'data:text/html,<p id="probe">ok</p>' >"$T/probe.html" 2>"$T/probe.err" ||
  ! grep -q 'id="probe"' "$T/probe.html"; then
  echo "SKIP: $chrome cannot start headless here: $(grep -v dbus "$T/probe.err" | tail -2 | tr '\n' ' ')"
  exit 0
fi
ok "$("$chrome" --version 2>/dev/null) starts headless"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_coord c --metrics "127.0.0.1:$PORT" --heartbeat-ms 200
start_worker w1 c --heartbeat-ms 200
start_worker w2 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"
job=$(hb c submit --synthetic 160 --seq 32 --batch 8 --epochs 3 --head-epochs 8 --lr 1e-3 --name "dash <i>test</i>" 2>>"$T/c.log")
wait_for 180 '[[ $(job_state c '"$job"') == DONE ]]' "job $job DONE"
status_json c >"$T/status.json"
hb c result "$job" --json >"$T/result.json"
U="http://127.0.0.1:$PORT"

python3 - "$U" "$job" "$T/status.json" "$T/result.json" <<'EOF' || fail "the JSON endpoints"
import json, sys, urllib.request, urllib.error
u, job, st, res = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
def get(path, method="GET"):
    try:
        r = urllib.request.urlopen(urllib.request.Request(u + path, method=method, data=b"" if method == "POST" else None), timeout=10)
        return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
code, hd, body = get(f"/api/result?job={job}")
assert code == 200 and hd["Content-Type"] == "application/json", (code, hd)
assert json.loads(body) == res, "/api/result differs from result --json"
code, _, body = get(f"/api/status?job={job}")
a = json.loads(body)["jobs"][0]
b = [j for j in st["jobs"] if j["id"] == job][0]
assert set(a) == set(b), set(a) ^ set(b)
for k in ("state", "epochs", "step", "total_steps", "val_chunk_accuracy", "train_loss", "phase_t", "num_classes"):
    assert a[k] == b[k], (k, a[k], b[k])
assert len(a["train_loss"]) == 3 and all(isinstance(v, float) for v in a["train_loss"]), a["train_loss"]
assert [p for p in ("INGEST", "TRAIN", "EMBED", "HEAD", "DONE") if p in a["phase_t"]] == ["INGEST", "TRAIN", "EMBED", "HEAD", "DONE"], a["phase_t"]
co = json.loads(get("/api/status")[2])["coordinator"]
assert co["store_docs"] == 160 and co["store_embeddings"] == 160 and co["disk_free_bytes"] > 0, co
assert get("/api/result?job=x")[0] == 400 and get("/api/result")[0] == 400
assert "error" in json.loads(get("/api/result?job=999")[2])
assert get("/api/status", "POST")[0] == 405 and get("/", "POST")[0] == 405
code, hd, body = get("/")
assert code == 200 and hd["Content-Type"].startswith("text/html") and b"dashboard.js" in body, code
assert "default-src 'self'" in hd["Content-Security-Policy"]
for p in ("/dashboard.js", "/dashboard.css"):
    assert get(p)[0] == 200, p
print(f"ok - /api/result == result --json; /api/status == status --json (job {job}: 3 epochs of train_loss, phases INGEST..DONE); "
      "store 160 documents and embeddings; 400 / 405 / unknown job; the page and its files (CSP self)")
EOF

timeout 90 "${CH[@]}" --virtual-time-budget=15000 --dump-dom "$U/?job=$job" >"$T/dom.html" 2>"$T/chrome.err" ||
  fail "chromium --dump-dom: $(tail -3 "$T/chrome.err")"
python3 - "$T/dom.html" "$job" "$T/status.json" "$T/result.json" <<'EOF' || fail "the dashboard's DOM (kept: HB_KEEP=1)"
import json, sys
from html.parser import HTMLParser
dom, job = open(sys.argv[1]).read(), sys.argv[2]
st, res = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
J = [j for j in st["jobs"] if j["id"] == int(job)][0]
VOID = {"meta", "link", "br", "img", "input", "hr", "wbr"}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.els, s.stack = [], []
    def handle_starttag(s, tag, attrs):
        e = {"tag": tag, "a": dict(attrs), "text": []}
        s.els.append(e)
        if tag not in VOID: s.stack.append(e)
    def handle_endtag(s, tag):
        while s.stack:
            if s.stack.pop()["tag"] == tag: break
    def handle_data(s, d):
        for e in s.stack: e["text"].append(d)
p = P(); p.feed(dom)
def find(**kv): return [e for e in p.els if all(e["a"].get(k.replace("_", "-")) == v for k, v in kv.items())]
def text(e): return "".join(e["text"]).strip()
body = find(data_ready="result")
assert body, "the page never showed the result (body data-ready)"
row = find(data_job=job)
assert row and row[0]["tag"] == "tr", "no row for the job"
state = [e for e in find(data_state="DONE")]
assert state, "no DONE badge"
ph = [text(e) for e in p.els if e["a"].get("data-col") == "phase"]
assert any("3 epochs" in t for t in ph), ph
def series(name): return [e for e in p.els if e["tag"] == "circle" and e["a"].get("data-series") == name]
for name, want in (("train-loss", J["train_loss"]), ("val-acc", J["val_chunk_accuracy"]),
                   ("head-loss", [e["loss"] for e in res["head_epochs"]]),
                   ("head-acc", [e["val_doc_accuracy"] for e in res["head_epochs"]])):
    pts = series(name)
    assert len(pts) == len(want), f"{name}: {len(pts)} points, want {len(want)}"
    got = [float(e["a"]["data-value"]) for e in pts]
    assert all(abs(g - w) < 1e-6 for g, w in zip(got, want)), (name, got, want)
assert len(series("head-loss")) == 8
conf = res["metrics"]["confusion"]
cells = {e["a"]["data-cm"]: text(e) for e in p.els if "data-cm" in e["a"]}
assert len(cells) == len(conf) ** 2, f"{len(cells)} cells for {len(conf)} classes"
for t, row_ in enumerate(conf):
    for q, n in enumerate(row_):
        assert cells[f"{t},{q}"] == str(n), (t, q, cells[f"{t},{q}"], n)
acc = {e["a"]["data-acc"]: text(e) for e in p.els if "data-acc" in e["a"]}
for k in ("chunk_accuracy", "vote_accuracy", "doc_accuracy", "baseline_accuracy"):
    assert acc[k + ":val"] == f"{100 * res[k]:.2f}%", (k, acc[k + ":val"], res[k])
for i, c in enumerate(res["metrics"]["classes"]):
    assert [text(e) for e in find(data_f1=str(i))] == [f"{c['f1']:.3f}"], (i, c)
ws = sorted(e["a"]["data-worker"] for e in p.els if "data-worker" in e["a"])
assert ws == ["w1", "w2"], ws
docs = [text(e) for e in find(data_store="documents")]
assert docs == [str(st["coordinator"]["store_docs"])], docs
assert "dash <i>test</i>" in dom.replace("&lt;", "<").replace("&gt;", ">") and "<i>test</i>" not in dom, "the name is not escaped"
print(f"ok - DOM: job {job} row DONE; charts 3/3/8/8 points with the status/result values; "
      f"{len(cells)} confusion cells, accuracy and F1 tables equal to result --json; workers w1, w2; store; name escaped")
EOF

shot=${HB_BUILD_DIR:-$B}/dashboard.png
rm -f "$shot"
timeout 90 "${CH[@]}" --virtual-time-budget=15000 --window-size=1500,1150 --screenshot="$shot" "$U/?job=$job" \
  >/dev/null 2>"$T/chrome.err" || fail "chromium --screenshot: $(tail -3 "$T/chrome.err")"
[[ $(stat -c %s "$shot" 2>/dev/null || echo 0) -gt 20000 ]] || fail "no screenshot at $shot"
ok "screenshot: $shot"
