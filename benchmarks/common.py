"""Shared plumbing of the benchmarks: arguments, interleaved timing, memory, the printed lines.

Every benchmark compares variants of the same work (e.g. the text tower at full length vs truncated).
All variants live in one process and are timed in interleaved rounds (A, B, A, B, ...): on a shared
machine the load changes from minute to minute, and interleaving exposes every variant to the same
conditions, so the printed ratios are measured in the same run under the same load. The reported time
of a variant is its fastest round (other processes only ever add time).

Memory is the resident set size (RSS) of the process, read from ``/proc/self/status``. Before the
first round of each variant the freed heap is handed back to the OS (``malloc_trim``) and the kernel's
RSS high-water mark is reset (``/proc/self/clear_refs``); the figure reported is how far RSS rose above
its level at the start of that call, i.e. the extra memory the variant's work needs (activations,
images, temporary buffers) on top of what is already loaded. The absolute peak is printed too; it
includes everything the process holds (every variant's model). Where the reset is not possible the
lifetime peak (``getrusage``) is printed and the line says so.
"""
import argparse
import contextlib
import ctypes
import math
import os
import resource
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

__all__ = [
    "REPO", "build_parser", "fill_defaults", "Meter", "Timer", "interleaved", "load_line",
    "work_folder", "quiet", "ratio_line", "memory_line", "print_header",
]

# ------------------------------------------------------------------------------------------ arguments
def build_parser(description):
    """Options every benchmark takes; a benchmark adds its own and passes None defaults to ``fill_defaults``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="tiny random model and a few inputs (seconds; checks the script, not the speed)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--workdir", default="", help="folder for generated data and the log (default: a temp "
                        "folder, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    return parser


def fill_defaults(args, full, quick):
    """Set every option still None to its full-size or ``--quick`` default."""
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    return args


def require_positive(args, keys):
    """Exit with a message naming the option when one of ``keys`` is below 1."""
    for key in keys:
        if getattr(args, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")


def set_threads(n):
    import torch

    torch.set_num_threads(int(n))


def run_benchmark(args, title, sizes, run):
    """Set the threads, print the header (backbone, then ``sizes``), call ``run(args, work, log)`` in the
    work folder, print the load."""
    set_threads(args.threads)
    backbone = "tiny test model" if args.quick else "ViT-B-16"
    print_header(title, args, [f"backbone: {backbone} (random weights); {sizes}"])
    with work_folder(args) as work, open(os.path.join(work, "log.txt"), "a") as log:
        run(args, work, log)
    print(f"   {load_line('end')}")
    return 0


# ---------------------------------------------------------------------------------------------- memory
_LIBC = None


def _malloc_trim():
    """Hand freed heap pages back to the OS (glibc only), so RSS reflects live memory."""
    global _LIBC
    if not sys.platform.startswith("linux"):
        return
    try:
        if _LIBC is None:
            _LIBC = ctypes.CDLL("libc.so.6")
        _LIBC.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _status_mib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _lifetime_peak_mib():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, KiB on Linux


def _reset_peak():
    """Trim the heap and reset the RSS high-water mark; returns (RSS now in MiB, whether the reset worked)."""
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        ok = True
    except OSError:
        ok = False
    return _status_mib("VmRSS"), ok and _status_mib("VmHWM") is not None


class Meter:
    """Memory of named phases: ``with meter.phase("full"): ...`` then ``meter.memory["full"]``."""

    def __init__(self):
        self.memory = {}

    @contextlib.contextmanager
    def phase(self, name):
        before, resettable = _reset_peak()
        yield
        peak = _status_mib("VmHWM") if resettable else _lifetime_peak_mib()
        self.memory[name] = {"before_mib": before, "peak_mib": peak, "phase_peak": bool(resettable)}


# ---------------------------------------------------------------------------------------------- timing
class Timer:
    """Wall time and process CPU time (every thread of the process) of a ``with`` block."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return False


def interleaved(calls, rounds, meter=None, skip=0, desc="", log=None):
    """Time ``calls`` ({name: fn}) in ``rounds`` interleaved rounds; the fastest round is each one's time.

    Round 0 of every call runs inside ``meter.phase(name)`` (its memory). The first ``skip`` rounds
    are warm-up rounds left out of the timing. ``log``: a file receiving what the calls print (the
    trainers are chatty), so that only the benchmark's own lines and its progress bar reach the terminal.
    Returns ``{name: {"best_s", "cpu_best_s", "times_s", "cpu_s"}}`` (the lists hold every round).
    """
    from tqdm import tqdm

    out = {name: {"times_s": [], "cpu_s": []} for name in calls}
    with tqdm(total=rounds * len(calls), desc=desc or "benchmark", leave=False, file=sys.stderr) as bar:
        for r in range(int(rounds)):
            for name, fn in calls.items():
                memory = meter.phase(name) if (meter is not None and r == 0) else contextlib.nullcontext()
                with quiet(log), memory, Timer() as t:
                    fn()
                out[name]["times_s"].append(t.wall)
                out[name]["cpu_s"].append(t.cpu)
                bar.update(1)
    for result in out.values():
        timed_wall, timed_cpu = result["times_s"][skip:] or result["times_s"], result["cpu_s"][skip:] or result["cpu_s"]
        result["best_s"], result["cpu_best_s"] = min(timed_wall), min(timed_cpu)
    return out


def _load():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def load_line(when):
    """``load average at <when>: 1-min load on N CPUs`` (how busy the shared machine was)."""
    load = _load()
    return f"load average at {when}: {'unknown' if load is None else f'{load:.1f}'} on {os.cpu_count()} CPUs"


# ------------------------------------------------------------------------------------------- plumbing
@contextlib.contextmanager
def work_folder(args):
    """``--workdir`` (kept), or a temporary folder removed at the end unless ``--keep``."""
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
        yield os.path.abspath(args.workdir)
        return
    path = tempfile.mkdtemp(prefix="shipclip-bench-")
    try:
        yield path
    finally:
        if args.keep:
            print(f"Work folder kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def quiet(log):
    """Send stdout and stderr to ``log`` (an open file) inside the block; a no-op when ``log`` is None."""
    if log is None:
        yield
        return
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield
    log.flush()


# ---------------------------------------------------------------------------------------- printed lines
def print_header(title, args, details):
    mode = "quick (tiny random model; speed targets do not apply)" if args.quick else "full"
    print(f"== {title}")
    print(f"   mode: {mode}; threads: {args.threads}; variants timed in interleaved rounds, fastest round reported")
    for line in details:
        print(f"   {line}")
    print(f"   {load_line('start')}")
    busy = _load() is not None and _load() > (os.cpu_count() or 1)
    if busy and not args.quick and args.threads > 1:
        print("   note: the machine is busy; with several threads per process small workloads wait at every "
              "barrier for a descheduled thread, so --threads 1 gives steadier ratios here")
    sys.stdout.flush()


def ratio_line(name, slow_label, slow, fast_label, fast, target=None, quick=False):
    """``RATIO <name>: <slow> X s / <fast> Y s = Rx [target >= T x: met] (process CPU time: ...)``.

    ``slow``/``fast`` are results of :func:`interleaved`. The verdict is on wall time; the CPU-time
    ratio is printed alongside (on a VM, stolen time can inflate both). Returns the wall-time ratio.
    """
    def quotient(a, b):
        return a / b if b > 0 else math.inf

    ratio = quotient(slow["best_s"], fast["best_s"])
    verdict = ""
    if target is not None:
        met = "met" if ratio >= target else "NOT met"
        verdict = " [quick mode: no target]" if quick else f" [target >= {target:g}x: {met}]"
    cpu = quotient(slow["cpu_best_s"], fast["cpu_best_s"])
    print(f"RATIO {name}: {slow_label} {slow['best_s']:.4g} s / {fast_label} {fast['best_s']:.4g} s = {ratio:.2f}x"
          f"{verdict} (process CPU time: {slow['cpu_best_s']:.4g} s / {fast['cpu_best_s']:.4g} s = {cpu:.2f}x)")
    sys.stdout.flush()
    return ratio


def memory_line(label, memory):
    """``MEMORY <label>: +X MiB RSS during its first round (peak P MiB, from S MiB)``."""
    peak = round(memory["peak_mib"])
    if not memory["phase_peak"] or memory["before_mib"] is None:
        print(f"MEMORY {label}: lifetime peak RSS {peak} MiB (the high-water mark could not be reset)")
        return
    start = round(memory["before_mib"])
    print(f"MEMORY {label}: +{peak - start} MiB RSS during its first round (peak {peak} MiB, from {start} MiB)")
