"""tune_cpu_allocator: large blocks allocated and freed again come back without fresh page faults."""

import os
import subprocess
import sys
import textwrap

import pytest

from astrofmx.utils import tune_cpu_allocator
from astrofmx.utils import _malloc

_CHILD = textwrap.dedent("""
    import resource
    import torch
    from astrofmx.utils import tune_cpu_allocator
    tuned = tune_cpu_allocator()
    per_block = []
    for _ in range(11):  # what a network does batch after batch: the same large activation again
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        x = torch.empty(10 * 2**20).fill_(1.0)  # 40 MiB, above glibc's largest dynamic mmap threshold
        del x
        per_block.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(tuned, *per_block[1:])
""")


def _faults(env):
    """Whether the child tuned malloc, and the fewest page faults of its 10 allocations after the first."""
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.split()
    return out[0] == "True", min(int(v) for v in out[1:])


@pytest.mark.skipif(_malloc._mallopt() is None, reason="the C library is not glibc (no mallopt)")
def test_large_blocks_are_reused_without_page_faults():
    tuned, faults = _faults({})
    untuned, faults_off = _faults({"ASTROFMX_MALLOC_TUNING": "0"})
    assert tuned and not untuned
    # a 40 MiB block is 10,240 pages: untuned, every allocation faults all of them in again (measured 10,241
    # each time); tuned, some of the ten still do (1 in a development venv, 3-4 in CI's tox environment),
    # the others reuse the freed block and fault none (measured 0)
    assert faults_off > 5_000, faults_off
    assert faults < faults_off / 10, (faults, faults_off)


def test_once_per_process():
    first = tune_cpu_allocator()
    assert tune_cpu_allocator() is first
