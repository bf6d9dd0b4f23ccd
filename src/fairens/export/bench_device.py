#!/usr/bin/env python3
"""Latency of the ONNX graphs in this folder with ONNX Runtime, on this device.

Needs only Python 3.8+, numpy and onnxruntime (e.g. under Termux on Android, on a
Raspberry Pi, or on a laptop). Every graph listed in graphs.json is measured at batch 1,
for each thread count, in a fresh process: session load time, warm-up runs, then timed
runs (p50/p90/p99/mean in ms) and the peak memory the session added. Each cascade listed
there (members run in order until the running mean probability reaches its threshold) is
timed image by image on the bundled test images (cascade_images.npy), with the members it
ran. Writes latency-<device>.json next to this script; bring it back and run
`fairens bench ingest latency-<device>.json`.

    python bench_device.py [--device pixel7] [--threads 1,2,4] [--runs 50] [--format onnx]
"""

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))


def reset_peak_memory():
    """Restart the kernel's peak-memory counter of this process, where it allows (Linux):
    the imports before a measurement can peak higher than a small graph ever does."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def memory_mb():
    """(current, peak) resident memory of this process in MB, or (None, None) where unknown."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None, None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10
    return peak, peak


def time_runs(run, runs, warmup):
    """``run()`` ``warmup`` times, then ``runs`` timed times: p50/p90/p99/mean in ms."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    return summarise(times)


def summarise(times):
    """p50/p90/p99/mean in ms and the count of a list of timed runs (ms)."""
    times = np.asarray(times)
    return {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(times.mean()),
            "runs": len(times)}


def measure(path, threads, runs, warmup):
    """Latency of one graph at batch 1 with ``threads`` intra-op threads."""
    reset_peak_memory()
    before, _ = memory_mb()
    start = time.perf_counter()
    session = open_session(path, threads)
    load_ms = 1000 * (time.perf_counter() - start)
    spec = session.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in spec.shape]
    feed = {spec.name: np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)}
    timing = time_runs(lambda: session.run(None, feed), runs, warmup)
    _, peak = memory_mb()
    return {"load_ms": load_ms, **timing, "peak_mb": None if before is None else peak - before}


def open_session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def cascade_step(sessions, image, threshold):
    """One image [C, H, W] through the cascade: members in order, stopping at the first
    whose running mean probability (float64, summed in member order) reaches ``threshold``
    or at the last. Returns (predicted class, members run)."""
    total = None
    for count, session in enumerate(sessions, start=1):
        probs = session.run(None, {session.get_inputs()[0].name: image[None]})[0][0]
        total = probs.astype(np.float64) if total is None else total + probs
        mean = total / count
        if mean.max() >= threshold or count == len(sessions):
            return int(mean.argmax()), count


def measure_cascade(paths, threshold, images, threads, warmup):
    """Latency of a cascade of the member graphs ``paths`` on every image (batch 1): the
    load time of all its sessions, then per image the time to its answer."""
    reset_peak_memory()
    before, _ = memory_mb()
    start = time.perf_counter()
    sessions = [open_session(path, threads) for path in paths]
    load_ms = 1000 * (time.perf_counter() - start)
    for image in images[:warmup]:
        for session in sessions:
            session.run(None, {session.get_inputs()[0].name: image[None]})
    times, members = [], []
    for image in images:
        start = time.perf_counter()
        _, count = cascade_step(sessions, image, threshold)
        times.append(1000 * (time.perf_counter() - start))
        members.append(count)
    _, peak = memory_mb()
    return {"load_ms": load_ms, **summarise(times), "members_mean": float(np.mean(members)),
            "peak_mb": None if before is None else peak - before}


def file_sha256(path):
    """Hex SHA-256 of a file, to check a graph is the one fairens exported."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def measure_in_child(path, threads, runs, warmup, cascade=None):
    """``measure`` in a fresh Python process, so load time and memory are the graph's own;
    with ``cascade`` (threshold, member paths, images file), ``measure_cascade``."""
    command = [sys.executable, os.path.abspath(__file__), "--one", path, "--threads", str(threads),
               "--runs", str(runs), "--warmup", str(warmup)]
    if cascade is not None:
        threshold, paths, images = cascade
        command += ["--cascade", str(threshold), "--images", images, "--members", *paths]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=platform.node() or "device",
                        help="name of this device, used in the output file name")
    parser.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--format", choices=["onnx", "ort"], default="onnx",
                        help="measure the .onnx files or the ORT-format (.ort) files")
    parser.add_argument("--graphs", nargs="*", help="only these graph names")
    parser.add_argument("--out", help="output file (default: latency-<device>.json here)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--cascade", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--images", help=argparse.SUPPRESS)
    parser.add_argument("--members", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    if args.one:
        try:
            print(json.dumps(
                measure(args.one, threads[0], args.runs, args.warmup) if args.cascade is None
                else measure_cascade(args.members, args.cascade,
                                     np.load(args.images).astype(np.float32), threads[0],
                                     args.warmup)))
        except Exception as exc:  # report the runtime's own message to the parent
            print(str(exc).replace("\n", " "), file=sys.stderr)
            return 1
        return 0
    with open(os.path.join(HERE, "graphs.json")) as f:
        bundle = json.load(f)
    results = []
    for graph in bundle["graphs"]:
        if (args.graphs and graph["name"] not in args.graphs) or args.format not in graph:
            continue
        path = os.path.join(HERE, os.path.basename(graph[args.format]))
        expected = graph.get("sha256" if args.format == "onnx" else "ort_sha256")
        changed = expected is not None and file_sha256(path) != expected
        for count in threads:
            result = ({"error": "checksum differs from graphs.json: not the exported graph"}
                      if changed else measure_in_child(path, count, args.runs, args.warmup))
            result.update({"graph": graph["name"], "kind": graph["kind"],
                           "members": graph["members"], "precision": graph["precision"],
                           "format": args.format, "file": graph[args.format], "threads": count})
            results.append(result)
            shown = result.get("p50_ms")
            print("{:<22} {:<13} threads={} p50={}".format(
                graph["name"], graph["precision"], count,
                f"{shown:.3f} ms" if shown is not None else result["error"]), flush=True)
    for cascade in bundle.get("cascades", []):
        if args.graphs and cascade["name"] not in args.graphs:
            continue
        suffix = ".ort" if args.format == "ort" else ".onnx"
        paths = [os.path.join(HERE, os.path.splitext(name)[0] + suffix)
                 for name in cascade["graphs"]]
        images = os.path.join(HERE, bundle["cascade_images"])
        for count in threads:
            result = measure_in_child(paths[0], count, args.runs, args.warmup,
                                      (cascade["threshold"], paths, images))
            result.update({"graph": cascade["name"], "kind": "cascade",
                           "members": cascade["members"], "precision": cascade["precision"],
                           "format": args.format, "threads": count})
            results.append(result)
            shown = result.get("p50_ms")
            print("{:<22} {:<13} threads={} p50={}".format(
                cascade["name"], cascade["precision"], count,
                "{:.3f} ms, {:.2f} members".format(shown, result["members_mean"])
                if shown is not None else result["error"]), flush=True)
    report = {"device": args.device, "run": bundle["run"], "model": bundle["model"],
              "input": bundle["input"], "onnxruntime": ort.__version__, "numpy": np.__version__,
              "python": platform.python_version(),
              "platform": {"system": platform.system(), "machine": platform.machine(),
                           "processor": platform.processor(), "cpus": os.cpu_count()},
              "runs": args.runs, "warmup": args.warmup, "results": results}
    out = args.out or os.path.join(HERE, f"latency-{args.device}.json")
    with open(out + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(out + ".tmp", out)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
