"""ckpt.py - reads a hierbert TRAIN checkpoint (coordinator/checkpoint.c) with
the standard library only, for the cluster tests' comparisons.

  python3 ckpt.py A B          max |A-B| / max |B| over the parameters
  python3 ckpt.py --info A     header fields as JSON
"""
import array, json, struct, sys

HDR = struct.Struct("<8sIIQQQQqqii")  # 72 bytes, see ck_header
HDR3 = struct.Struct("<iiqdd")  # version 3: ck_header3 after the header


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (magic, version, has_m, job, rnd, seed, numel, step, sie, epoch, epochs) = HDR.unpack_from(raw, 0)
    assert magic == b"HBCKPT01" and version in (1, 2, 3), f"{path}: not a hierbert checkpoint"
    off = HDR.size
    info = dict(job=job, round=rnd, seed=seed, numel=numel, step=step, step_in_epoch=sie, epoch=epoch,
                epochs=epochs, has_moments=has_m, version=version)
    if version >= 3:
        n_slices, _, done, els, eln = HDR3.unpack_from(raw, off)
        off += HDR3.size
        info.update(n_slices=n_slices, samples_done=done, epoch_loss_sum=els, epoch_loss_n=eln)
    p = array.array("f")
    p.frombytes(raw[off:off + 4 * numel])
    return info, p


def rel(a, b):
    assert len(a) == len(b), f"{len(a)} vs {len(b)} parameters"
    d = max(abs(x - y) for x, y in zip(a, b))
    m = max(abs(y) for y in b)
    return d / m if m else d, d


if __name__ == "__main__":
    if sys.argv[1] == "--info":
        print(json.dumps(read(sys.argv[2])[0]))
    else:
        (ia, a), (ib, b) = read(sys.argv[1]), read(sys.argv[2])
        r, d = rel(a, b)
        print(f"{r:.3e} {d:.3e} {ia['step']} {ib['step']} {len(a)}")
