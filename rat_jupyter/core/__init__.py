"""The RAT domain: pipelines, templating, the DAG, strategies, quality tests and runs.

Nothing in this package imports tornado, jupyter_server, IPython, APScheduler or traitlets, so every front
door (REST handlers, scheduler, kernel, magics) can share it.
"""
