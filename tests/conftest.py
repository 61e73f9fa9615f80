import os

# pytest-xdist runs one process per core: give each one torch thread so the
# workers do not oversubscribe the machine (the estimators read OMP_NUM_THREADS).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
