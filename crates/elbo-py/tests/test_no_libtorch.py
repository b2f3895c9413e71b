"""The package imports and fits in a clean interpreter with no libtorch anywhere: no torch
module is loaded and no libtorch / libc10 shared object is mapped into the process."""

import os
import subprocess
import sys

import pytest

CODE = """
import sys
sys.modules["sklearn"] = None  # and without scikit-learn
import numpy as np, elbo
gm = elbo.GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(size=(200, 2)))
assert gm.converged_
assert not [m for m in sys.modules if m.split(".")[0] == "torch"], "torch was imported"
maps = open("/proc/self/maps").read()
for lib in ("libtorch", "libc10"):
    assert lib not in maps, lib + " is mapped"
print("ok", elbo.__file__)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux /proc")
def test_imports_without_libtorch():
    env = {k: v for k, v in os.environ.items() if "TORCH" not in k and k != "LD_LIBRARY_PATH"}
    out = subprocess.run(
        [sys.executable, "-I", "-c", CODE], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
