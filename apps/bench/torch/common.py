"""Shared by the `--vs torch` scripts: thread setup and the one JSON line they print."""
import json, resource, sys, time
import torch


def setup(threads):
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def blas():
    """The BLAS library this process loaded (Debian's torch uses the system libblas.so.3: the reference BLAS is
    ~20x slower than OpenBLAS; install libopenblas0-pthread)."""
    libs = [l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and ".so" in l]
    return sorted(set(libs))


def emit(result):
    result["torch"] = torch.__version__
    result["blas"] = blas()
    result["threads"] = torch.get_num_threads()
    result["peakRssBytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stdout.write(json.dumps(result) + "\n")


def median(xs):
    return sorted(xs)[len(xs) // 2]


now = time.perf_counter
