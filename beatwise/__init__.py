"""Shared infrastructure of the Beatwise packages (atomic file writing); no modelling here.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already chooses a policy:
LightGBM's OpenMP threads then sleep between parallel regions instead of spinning, so a model fit
on a machine whose cores are busy with something else is not slowed several times over by threads
waiting for each other. It changes when the threads run, never what they compute: the fitted
model is byte-identical under either policy (tests/models/test_thread_wait.py). Every stage
imports this package before LightGBM, which reads the variable when it is loaded.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
