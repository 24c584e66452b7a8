from bench import data, metrics


def test_label_accuracy_and_per_class_fid():
    test = data.load("mnist", "test")
    right = metrics.score(test.images, test.labels)  # each class against itself
    wrong = metrics.score(test.images[:2000], (test.labels[:2000] + 1) % 10)
    assert right["label_accuracy"] > 0.99
    assert wrong["label_accuracy"] < 0.02
    assert len(right["fid_per_class"]) == 10
    assert max(right["fid_per_class"]) < 1e-3
    assert min(wrong["fid_per_class"]) > 100 * max(max(right["fid_per_class"]), 1e-4)


def test_unconditional_samples_have_no_label_metrics():
    r = metrics.score(data.load("mnist", "test").images[:500])
    assert "label_accuracy" not in r and "fid_per_class" not in r
