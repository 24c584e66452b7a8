"""bench selfcheck's tables."""

from bench import selfcheck


def test_sample_size_table_shows_fid_of_real_data_falling_with_n():
    table = selfcheck.sample_size_table(sizes=(300, 3000))
    assert list(table["n"]) == [300, 3000]
    assert table["fid"].iloc[0] > 2 * table["fid"].iloc[1]  # FID is biased upwards at small n
    assert (table["valid_share"] > 0.95).all()  # real training images are digits at any n
