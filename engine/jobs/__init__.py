"""The job system: everything SQLite and subprocess.

store   the SQLite file (persist and query only)
queue   submit, cancel, wait, refresh; the workers' claim and finish
worker  `python -m engine.jobs.worker`: one worker process
views   a job's dataset, summary and stragglers, computed from the store
"""
