"""Before any work: the checks a run must pass (preflight), and how long it will
take (calibration of this machine, estimate)."""
