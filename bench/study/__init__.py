"""Studies: a named experiment (``studies/<name>.toml``) expanded into Optuna trials."""
