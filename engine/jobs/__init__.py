"""The job system: everything SQLite and subprocess.

store   the SQLite file (persist and query only)
queue   submit, cancel, wait, refresh; the workers' claim and finish
worker  `python -m engine.jobs.worker`: one worker process (the driver of its job)
executors  where a job trains: here (local) or as Ray tasks (ray_tasks: what runs
        in a task; piece_cache: an experiment's finished pieces, for a resubmit)
views   a job's dataset, summary and stragglers, computed from the store
"""
