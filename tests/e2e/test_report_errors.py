"""`iterprof report` on traces written here with struct: exact statistics of
a known trace, truncated traces reported with a note (exit 0), and damaged,
foreign or future-version files refused with exit 2 and one line naming the
file and the byte (include/iterprof/trace-format.h is the layout)."""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ITERPROF, Workdir, expect, run  # noqa: E402

HEADER = 4096
CHUNK = 4096
FOOTER_OFF = 4032
START_NS = 10**9
COUNTERS = [(1, "task-clock", True, ""),
            (2, "minor-faults", False, "perf_event_open: EACCES")]

REC_THREAD, REC_REGION, REC_ITERATION, REC_DROPPED, REC_NOTE = 1, 2, 3, 4, 5


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def record(rtype, seq, payload):
    body = pad8(payload)
    size = 8 + len(body)
    return struct.pack("<II", rtype | (size << 8), seq) + body


def header(footer=True, major=1, minor=0, iterations=0, chunks=1):
    h = bytearray(HEADER)
    struct.pack_into("<8sHHIIIII", h, 0, b"ITERPROF", major, minor, HEADER,
                     0x01020304, CHUNK, 1, len(COUNTERS))
    struct.pack_into("<IIII", h, 32, 4242, 1, 0, 1)  # pid ppid gen clock
    struct.pack_into("<QQI", h, 48, START_NS, 1_700_000_000 * 10**9, 20)
    h[80:80 + 4] = b"host"
    h[144:144 + 5] = b"Linux"
    h[592:592 + 10] = b"bench -n 5"
    for i, (cid, name, counts, why) in enumerate(COUNTERS):
        d = 1744 + 128 * i
        struct.pack_into("<HHII", h, d, cid, 1, 1 if counts else 0,
                         0 if counts else 13)
        h[d + 16:d + 16 + len(name)] = name.encode()
        h[d + 48:d + 48 + len(why)] = why.encode()
    if footer:
        struct.pack_into("<IIQQQQ", h, FOOTER_OFF, 0x444E4549, 1, 2 * START_NS,
                         iterations, 0, chunks)
    return h


DURATIONS = [100, 200, 300, 400, 1000]


def chunk():
    """One chunk of thread 101: THREAD, REGION "loop", 5 ITERATIONs."""
    c = bytearray(CHUNK)
    struct.pack_into("<IIII", c, 0, 0x43505449, 101, 0, 0)
    recs = record(REC_THREAD, 0, struct.pack("<II", 101, 0) + b"main".ljust(16, b"\0"))
    recs += record(REC_REGION, 1, struct.pack("<HHI", 0, 4, 0) + b"loop\0")
    prev = 0
    for i, d in enumerate(DURATIONS):
        start = START_NS + 1000 * (i + 1)
        delta = start - prev
        zigzag = (delta << 1) ^ (delta >> 63)
        payload = struct.pack("<HH", 0, 0) + varint(0) + varint(zigzag) + \
            varint(d) + varint(d) + varint(0) + varint(d // 2 + 1) + varint(0)
        # the record header takes 8 bytes; region_id and flags are at 8
        recs += record(REC_ITERATION, 2 + i, payload)
        prev = start
    c[32:32 + len(recs)] = recs
    return c


def valid_trace(footer=True):
    return bytes(header(footer, iterations=len(DURATIONS))) + bytes(chunk())


def write(w, name, data):
    path = w.join(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def refused(path, fragment):
    """report PATH exits 2 with one stderr line containing FRAGMENT."""
    p = run([ITERPROF, "report", path], check=2)
    lines = p.stderr.strip().splitlines()
    expect(len(lines) == 1, f"one line expected, got {p.stderr!r}")
    expect(lines[0].startswith("iterprof: "), lines[0])
    expect(fragment in lines[0], f"{fragment!r} not in {lines[0]!r}")
    expect(p.stdout == "", f"nothing on stdout: {p.stdout!r}")
    return lines[0]


def test_valid_statistics():
    w = Workdir()
    path = write(w, "iterprof-4242.trace", valid_trace())
    doc = harness.report_json(path, ["--iterations"])
    expect(doc["schema"] == "iterprof.report/1", doc["schema"])
    (region,) = harness.regions(doc, "loop")
    s = region["stats"]
    expect(region["iterations"] == 5, region)
    expect(s["min_ns"] == 100 and s["max_ns"] == 1000, s)
    expect(s["median_ns"] == 300 and s["mean_ns"] == 400, s)
    expect(abs(s["p90_ns"] - 760) < 1e-6, s)  # 400 + 0.6 * 600
    expect(s["mad_ns"] == 100, s)  # deviations 200 100 0 100 700
    expect(region["tid"] == 101 and region["thread_name"] == "main", region)
    tc = region["counters"]["task-clock"]
    expect(tc["counts"] and tc["total"] == 50 + 100 + 150 + 200 + 500, tc)
    mf = region["counters"]["minor-faults"]
    expect(not mf["counts"] and mf["why"] == "perf_event_open: EACCES", mf)
    expect(mf["median"] is None, mf)
    it = region["per_iteration"]
    expect([i["index"] for i in it] == [1, 2, 3, 4, 5], it)
    expect([i["ns"] for i in it] == DURATIONS, it)
    expect(it[0]["start_ns"] == 1000 and it[4]["start_ns"] == 5000, it)
    expect(it[0]["counters"] == {"task-clock": 50, "minor-faults": None}, it[0])
    expect(doc["processes"][0]["truncated"] is False, doc["processes"][0])
    text = run([ITERPROF, "report", path], check=0).stdout
    expect('region "loop": 5 iterations' in text, text)
    expect("minor-faults: not counted (perf_event_open: EACCES)" in text, text)
    expect("truncated" not in text, text)
    w.cleanup()


def test_truncated_is_reported():
    w = Workdir()
    path = write(w, "iterprof-4242.trace", valid_trace(footer=False))
    p = run([ITERPROF, "report", path], check=0)
    expect("(truncated: no clean-exit footer; read up to the last whole record)"
           in p.stdout, p.stdout)
    expect('region "loop": 5 iterations' in p.stdout, p.stdout)
    doc = harness.report_json(path)
    expect(doc["processes"][0]["truncated"] is True, doc["processes"][0])
    # cut inside the chunk, in the middle of the fourth iteration: three left
    data = valid_trace()
    cut = write(w, "cut.trace", data[:HEADER + 32 + 32 + 24 + 3 * 24 + 5])
    doc = harness.report_json(cut)
    expect(harness.regions(doc, "loop")[0]["iterations"] == 3, doc["regions"])
    expect(doc["processes"][0]["truncated"] is True, doc["processes"][0])
    w.cleanup()


def test_wrong_magic():
    w = Workdir()
    path = write(w, "iterprof-1.trace", b"GARBAGE!" + valid_trace()[8:])
    refused(path, f"{path}: byte 0: not an iterprof trace")
    text = write(w, "notes.trace", b"just some text\n")
    refused(text, f"{text}: byte 0: not an iterprof trace")
    w.cleanup()


def test_future_version():
    w = Workdir()
    data = bytearray(valid_trace())
    struct.pack_into("<HH", data, 8, 2, 0)
    path = write(w, "iterprof-2.trace", bytes(data))
    refused(path, f"{path}: byte 8: written by a newer iterprof (format 2.0); "
                  "this iterprof reads format 1.x")
    w.cleanup()


def test_bad_chunk_magic():
    w = Workdir()
    data = bytearray(valid_trace())
    struct.pack_into("<I", data, HEADER, 0xDEADBEEF)
    path = write(w, "iterprof-3.trace", bytes(data))
    refused(path, f"{path}: byte {HEADER}: bad chunk magic 0xdeadbeef")
    w.cleanup()


def test_record_larger_than_chunk():
    w = Workdir()
    data = bytearray(valid_trace())
    off = HEADER + 32  # the THREAD record
    struct.pack_into("<I", data, off, REC_THREAD | (8192 << 8))
    path = write(w, "iterprof-4.trace", bytes(data))
    refused(path, f"{path}: byte {off}: record of 8192 bytes does not fit its chunk")
    w.cleanup()


def test_short_and_empty_files():
    w = Workdir()
    short = write(w, "short.trace", valid_trace()[:100])
    refused(short, f"{short}: byte 100: file ends inside the 4096-byte header")
    empty = write(w, "empty.trace", b"")
    refused(empty, f"{empty}: byte 0: empty file")
    w.cleanup()


def test_missing_and_empty_paths():
    w = Workdir()
    missing = w.join("nothing-here")
    line = refused(missing, f"iterprof: {missing}: No such file or directory (")
    expect(line.endswith(")"), line)
    refused(w.path, f"no trace files in {w.path}")
    # a directory with one damaged trace among good ones fails, naming it
    write(w, "iterprof-10.trace", valid_trace())
    bad = write(w, "iterprof-11.trace", b"\0" * 8 + valid_trace()[8:])
    refused(w.path, f"{bad}: byte 0: header never written")
    w.cleanup()


def test_usage_errors():
    p = run([ITERPROF, "report", "--format", "xml", "x"], check=2)
    expect(p.stderr.count("\n") == 1 and "xml" in p.stderr, p.stderr)
    p = run([ITERPROF, "report", "--no-such-option"], check=2)
    expect("--no-such-option" in p.stderr, p.stderr)
    p = run([ITERPROF, "report", "--help"], check=0)
    expect(p.stdout.startswith("usage: iterprof report"), p.stdout)


if __name__ == "__main__":
    harness.main([
        test_valid_statistics,
        test_truncated_is_reported,
        test_wrong_magic,
        test_future_version,
        test_bad_chunk_magic,
        test_record_larger_than_chunk,
        test_short_and_empty_files,
        test_missing_and_empty_paths,
        test_usage_errors,
    ])
