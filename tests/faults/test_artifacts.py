"""A finished trial whose generator is gone from the artifact store: reported, never
silently skipped, and named by the command that needs it."""

from bench.runs import GENERATOR


def test_a_missing_generator_is_reported_and_bench_sample_names_it(study, bench):
    run = study.client.get_run(study.trials()[0].user_attrs["mlflow_run_id"])
    generator = study.home / "artifacts" / "tiny" / run.info.run_id / "artifacts" / GENERATOR
    generator.unlink()

    code, out, _ = bench("doctor")
    assert code == 1 and "missing generator" in out and run.info.run_id in out
    code, out, _ = bench("doctor", "--repair")  # nothing to rebuild it from: left for a person
    assert code == 1 and "missing generator" in out and "cannot fix safely" in out and not generator.exists()

    code, _, err = bench("sample", run.info.run_id, "--out", study.home / "x.png")
    assert code == 2 and err.count("\n") == 1
    assert f"run {run.info.run_id} finished, but its {GENERATOR} is missing from {run.info.artifact_uri}" in err and "bench doctor" in err


def test_a_damaged_generator_is_named_by_where_it_is_stored(study, bench):
    run = study.client.get_run(study.trials()[0].user_attrs["mlflow_run_id"])
    generator = study.home / "artifacts" / "tiny" / run.info.run_id / "artifacts" / GENERATOR
    generator.write_bytes(generator.read_bytes()[:1000])
    code, _, err = bench("sample", run.info.run_id, "--out", study.home / "x.png")
    assert code == 2 and err.count("\n") == 1
    assert f"{run.info.artifact_uri}/{GENERATOR}: not a bench generator or checkpoint" in err
