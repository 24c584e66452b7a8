"""The MLflow side of a run that only bench's tracker handles."""

from mlflow.store.tracking.dbmodels.models import SqlDataset
from sqlalchemy.orm import Query

from bench.tracking import MLflowTracker, create_store, dataset_input


def test_two_workers_logging_the_same_new_data_set_at_once_both_get_it(tmp_path, monkeypatch):
    """The race MLflow leaves open: worker A looks the data set up and misses it, worker B
    inserts it, then A's insert collides. Replayed here by blinding A's first look-up."""
    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    inputs = [dataset_input("mnist", "train")]
    a, b = (MLflowTracker("race", name, {}, uri) for name in ("a", "b"))
    b.log_inputs(inputs)
    look_up, blinded = Query.all, []

    def misses_the_data_set_once(query):
        if not blinded and query.column_descriptions[0]["entity"] is SqlDataset:
            blinded.append(query)
            return []
        return look_up(query)

    monkeypatch.setattr(Query, "all", misses_the_data_set_once)
    a.log_inputs(inputs)
    assert blinded  # the colliding insert was really tried
    for tracker in (a, b):
        logged = tracker.client.get_run(tracker.run_id).inputs.dataset_inputs
        assert [d.dataset.digest for d in logged] == [inputs[0].dataset.digest]


def test_a_new_sqlite_store_is_a_copy_of_the_cached_empty_one_that_mlflow_opens_as_its_own(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    create_store(uri)
    assert (tmp_path / "mlflow.db").stat().st_size > 0
    client = MlflowClient(uri)  # schema verified: the template's migrations are this MLflow's
    assert client.get_experiment("0").artifact_location == str(tmp_path / "mlruns" / "0")  # made here, not where the template was
    client.create_experiment("kept")
    create_store(uri)  # never over a store that is there
    assert client.get_experiment_by_name("kept") is not None and [p.name for p in tmp_path.iterdir()] == ["mlflow.db"]
