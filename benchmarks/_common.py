"""Helpers shared by the benchmark scripts (run them as `python benchmarks/<name>.py`)."""
import platform


def cpu_model() -> str:
    """The CPU's model name, for the hardware line of every benchmark table."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
