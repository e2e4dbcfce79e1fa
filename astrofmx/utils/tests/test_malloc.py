"""tune_cpu_allocator: large blocks allocated and freed again come back without fresh page faults."""

import os
import subprocess
import sys
import textwrap

import pytest

from astrofmx.utils import tune_cpu_allocator
from astrofmx.utils import _malloc

_CHILD = textwrap.dedent("""
    import resource, sys
    import torch
    from astrofmx.utils import tune_cpu_allocator
    tuned = tune_cpu_allocator()
    x = torch.empty(10 * 2**20).fill_(1.0)  # 40 MiB, above glibc's largest dynamic mmap threshold
    del x
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):  # what a network does batch after batch: the same large activation again
        x = torch.empty(10 * 2**20).fill_(1.0)
        del x
    print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _faults(env):
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(_malloc._mallopt() is None, reason="the C library is not glibc (no mallopt)")
def test_large_blocks_are_reused_without_page_faults():
    tuned, faults = _faults({})
    untuned, faults_off = _faults({"ASTROFMX_MALLOC_TUNING": "0"})
    assert tuned and not untuned
    # 10 x 40 MiB is 102,400 pages: untuned, each one is faulted in again (measured 102,410); tuned, a tenth to
    # 40% of them (10,240 in a development venv, 30,720-40,960 in CI's tox environment, same machine)
    assert faults_off > 50_000, faults_off
    assert faults < faults_off / 2, (faults, faults_off)


def test_once_per_process():
    first = tune_cpu_allocator()
    assert tune_cpu_allocator() is first
