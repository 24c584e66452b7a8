"""Studies: a named experiment (``studies/<name>.toml``) expanded into Optuna trials.

``spec`` reads and validates the file; ``runner`` is the launcher (``bench run``);
``worker`` trains trials in worker processes; ``queue`` holds the trial slots in
Optuna storage; ``progress`` is the launcher's live display; ``report`` logs the
best values, the leaderboard and the study's plots to MLflow.
"""
