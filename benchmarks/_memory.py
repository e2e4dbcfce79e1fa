"""Process memory readings shared by the benchmark scripts (Linux /proc, with a getrusage fallback)."""

import math
import resource


def reset_peak_rss():
    """Reset the kernel's RSS high-water mark (VmHWM); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def proc_status_mib(key):
    """A ``/proc/self/status`` field in MiB (e.g. 'VmRSS', 'RssAnon'); NaN where unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mib():
    """Peak resident set size of this process in MiB since the last `reset_peak_rss`."""
    value = proc_status_mib("VmHWM")
    if math.isnan(value):
        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return value
