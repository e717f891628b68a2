"""chaos_check.py - what a finished hierbert job left behind, reduced to
digests a fault-free run can be compared with bit for bit (ops/chaos.sh,
tests/test_cluster_exact.sh, tests/test_chaos_short.sh). Standard library only.

  python3 chaos_check.py digest DATA_DIR JOB RESULT_JSON DUMP_VALUES
      one JSON object: sha256 of the TRAIN checkpoint (parameters, moments,
      counters), of head.safetensors, of the result without its timings, of
      the job's stored embeddings (`hierbert store dump --values --job J`),
      and the checkpoint's counters
  python3 chaos_check.py compare REF.json GOT.json
      exit 1 naming each digest that differs
  python3 chaos_check.py corpus DIR [N]
      writes DIR/train.jsonl and DIR/val.jsonl: N (240) seeded documents of
      3 classes, each 10-120 words drawn mostly from its class's words (a
      real dataset for a vocabulary-backed job that can be exported)
  python3 chaos_check.py steps EVENTS_OR_STATUS_LOG TOTAL
      the step counter seen while the job ran (one JSON status a line) never
      went down except back to a checkpoint after a coordinator restart, and
      ended at TOTAL; prints the steps seen
"""
import hashlib, json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt  # noqa: E402

# result keys that measure time or describe the machine, not the job's numbers
TIMING = re.compile(r"(_s|_ms|seconds|time|_t|submitted|started|finished|uptime|per_s|rate)$")
# ... and how the work went: EMBED's commits, bytes and documents skipped after a restart
OPS = {"embed", "job"}


def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in sorted(o.items()) if not TIMING.search(k) and k not in OPS}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


def sha(b):
    return hashlib.sha256(b).hexdigest()


def digest(data_dir, job, result_json, dump_values):
    jd = os.path.join(data_dir, "jobs", "%06d" % int(job))
    out = {}
    ck = os.path.join(jd, "checkpoint.bin")
    with open(ck, "rb") as f:
        raw = bytearray(f.read())
    raw[16:24] = bytes(8)  # the job id (ck_header.job_id): a job submitted again has another ...
    out["checkpoint"] = sha(bytes(raw[:-8]))  # ... and so has the file's checksum (its last 8 bytes) over it
    info, _ = ckpt.read(ck)
    out["step"] = info["step"]
    out["round"] = info["round"]
    out["n_slices"] = info.get("n_slices", 0)
    head = os.path.join(jd, "head.safetensors")
    out["head"] = sha(open(head, "rb").read()) if os.path.exists(head) else None
    with open(result_json) as f:
        res = json.load(f)
    out["result"] = sha(json.dumps(strip(res), sort_keys=True).encode())
    for k in ("chunk_accuracy", "doc_accuracy", "vote_accuracy"):
        out[k] = res.get(k)
    # embeddings: the emb/ lines with their values, in key order
    emb = []
    with open(dump_values, errors="replace") as f:
        take = False
        for line in f:
            if re.match(r"(docs|emb|jobs|results|meta)/", line):
                take = line.startswith("emb/")
            if take:
                emb.append(re.sub(r"^emb/\d+/", "emb/J/", line))
    out["embeddings"] = sha("".join(sorted(emb)).encode())
    out["emb_lines"] = len(emb)
    return out


WORDS = ("the a of and to in is was for on that with as by at from it be this are or an have not which his "
         "her but one all were they had there their been has more will would who about when out up can into "
         "time new some could these two may first any only other than then its over also after most made "
         "many before must through back years where much your way well down should because each just those "
         "people how too little state good very make world still own see men work long get here between "
         "both life being under never day same another know while last might us great old year off come since "
         "against go came right used take three").split()


def corpus(d, n=240):
    import random
    rng = random.Random(7)
    os.makedirs(d, exist_ok=True)
    k = len(WORDS) // 3
    with open(os.path.join(d, "train.jsonl"), "w") as tr, open(os.path.join(d, "val.jsonl"), "w") as va:
        for i in range(n):
            c = i % 3
            own = WORDS[c * k:(c + 1) * k]
            text = " ".join(rng.choice(own) if rng.random() < 0.6 else rng.choice(WORDS)
                            for _ in range(rng.randint(10, 120)))
            line = json.dumps({"id": "d%04d" % i, "text": text, "label": "class%d" % c}) + "\n"
            (va if i % 5 == 4 else tr).write(line)


def main():
    cmd = sys.argv[1]
    if cmd == "corpus":
        corpus(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 240)
        return
    if cmd == "digest":
        print(json.dumps(digest(*sys.argv[2:6]), sort_keys=True))
    elif cmd == "compare":
        a, b = (json.load(open(p)) for p in sys.argv[2:4])
        bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        if bad:
            print("differ: " + ", ".join("%s (%s vs %s)" % (k, str(a.get(k))[:16], str(b.get(k))[:16]) for k in bad))
            sys.exit(1)
        print("identical: " + ", ".join(sorted(a)))
    elif cmd == "steps":
        total = int(sys.argv[3])
        seen = []
        for line in open(sys.argv[2]):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            for j in d.get("jobs", []):
                if "step" in j:
                    seen.append((j["step"], j.get("state")))
        steps = [s for s, _ in seen]
        if not steps or steps[-1] != total:
            print("last step seen %s, expected %d" % (steps[-1] if steps else None, total))
            sys.exit(1)
        print("steps seen: %d samples, %d..%d" % (len(steps), min(steps), max(steps)))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
