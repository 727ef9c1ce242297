"""Shared by the `--vs torch` scripts: thread setup and the parent watch, the machine's matmul peak, and the one JSON
line they print.

The peer is started by apps/bench/src/torch.ts with OMP_WAIT_POLICY=PASSIVE, the allocator settings, and the thread
limit in OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (torch.set_num_threads does not reach OpenBLAS); `emit` records all of
it, with torch.__config__.parallel_info() and the BLAS library loaded, in the result. It also passes its pid in
--parent (every script takes it: `add_parent`), and the script exits once the bench is gone (`exit_with_parent`)."""
import json, os, resource, sys, time
import torch

# the variables that change how fast torch runs on a CPU; emit() records their values as this process saw them
ENV_KEYS = (
    "OMP_WAIT_POLICY",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "MKL_NUM_THREADS",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
)


def add_parent(parser):
    """--parent PID, which the bench passes every script: see `setup`."""
    parser.add_argument("--parent", type=int, help="the starter's pid: exit once it is no longer this process's parent")


def setup(threads, parent=None):
    """torch's thread pools: `threads` for ops, one for inter-op. With `parent` (the script's --parent), the parent
    watch under the script's file name (`exit_with_parent`), so that a bench that is gone leaves no peer behind."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    if parent is not None:
        exit_with_parent(os.path.basename(sys.argv[0]), parent)


def exit_with_parent(name, parent):
    """Exit with status 130 once `parent` (the bench's pid, passed on the command line) is no longer this process's
    parent: a killed bench does not leave its peer running orphaned. Checked every second on a daemon thread (Python
    switches to it while the main thread runs; PIL and torch release the GIL); the pid is passed rather than read here
    so that a bench that died while this script was still importing torch is noticed too. DataLoader workers, forked
    from this process, end with it (torch's own watchdog in each worker)."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        try:
            sys.stderr.write(f"{name}: the parent process {parent} is gone; exiting\n")
            sys.stderr.flush()
        except OSError:
            pass  # stderr was a pipe to the dead parent: nobody is left to read the line, the exit matters
        os._exit(130)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def blas():
    """The BLAS library this process loaded (Debian's torch uses the system libblas.so.3: the reference BLAS is
    ~20x slower than OpenBLAS; install libopenblas0-pthread, whose path contains 'openblas-pthread')."""
    libs = [l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and ".so" in l]
    return sorted(set(libs))


def openblas_threads():
    """The size of OpenBLAS's thread pool as the loaded library reports it (openblas_get_num_threads), or None
    when no OpenBLAS is loaded: the proof that OPENBLAS_NUM_THREADS reached it."""
    import ctypes

    for path in blas():
        if "libopenblas" in path:
            return ctypes.CDLL(path).openblas_get_num_threads()
    return None


def median(xs):
    return sorted(xs)[len(xs) // 2]


now = time.perf_counter


def matmul_peak(n=2048, reps=5):
    """fp32 GEMM rate (GFLOP/s = 2 n^3 / median seconds) of torch.mm and, if importable, numpy.dot, on n x n
    matrices at this process's thread settings: the peak the bench rows are compared with."""
    out = []
    a = torch.sin(torch.arange(n * n, dtype=torch.float32) * 0.001).view(n, n)
    b = torch.cos(torch.arange(n * n, dtype=torch.float32) * 0.001).view(n, n)
    engines = [("torch", lambda: torch.mm(a, b))]
    try:
        import numpy as np

        an, bn = a.numpy(), b.numpy()
        engines.append(("numpy " + np.__version__, lambda: np.dot(an, bn)))
    except ImportError as e:  # recorded, not hidden: the row says numpy was not measured and why
        out.append({"engine": "numpy", "error": str(e)})
    for name, f in engines:
        f()
        ts = []
        for _ in range(reps):
            t0 = now()
            f()
            ts.append(now() - t0)
        out.append({"engine": name, "n": n, "threads": torch.get_num_threads(), "seconds": ts, "gflops": 2 * n**3 / median(ts) / 1e9})
    return out


def emit(result, peak=True):
    result["torch"] = torch.__version__
    result["blas"] = blas()
    result["threads"] = torch.get_num_threads()
    result["openblasThreads"] = openblas_threads()
    result["environment"] = {k: os.environ.get(k) for k in ENV_KEYS}
    result["parallelInfo"] = torch.__config__.parallel_info()
    result["peakRssBytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # before the GEMMs
    if peak:
        result["matmulPeak"] = matmul_peak()
    sys.stdout.write(json.dumps(result) + "\n")
