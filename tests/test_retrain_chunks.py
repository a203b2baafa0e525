"""A retrain reads its window from the data store in chunks and fits LightGBM from them
(``DataStore.chunks``, ``ModelAdapter.fit_chunks``): the same model as a fit on the whole frame,
never more than a chunk of rows held at once, and a retrain killed midway changes nothing."""

from __future__ import annotations


import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import make_stream
from sklearn.linear_model import Ridge
from test_hardening_crash import run_killed_at

from driftkeeper import Keeper, Registry
from driftkeeper.adapters.lightgbm import LightGBMAdapter
from driftkeeper.adapters.sklearn import SklearnAdapter
from driftkeeper.exceptions import SchemaError
from driftkeeper.keeper import apply, bundle
from driftkeeper.keeper.runner import data_fingerprint
from driftkeeper.keeper.store import POS, SEQ, DataStore
from driftkeeper.table import TableSpec

RETRAIN = """
name: retrain-every-night
metric: rmse
rules: []
fallback: {action: retrain, window: all}
guards: {min_rows: 50}
gate: {enabled: false, holdout: {fraction: 0.2}}
"""


def _table(n: int, seed: int, task: str) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    X.loc[rng.random(n) < 0.15, "b"] = np.nan
    X["kind"] = pd.Categorical(rng.choice(["p", "q", "r", "s"], n), categories=["p", "q", "r", "s"])
    X.loc[rng.random(n) < 0.05, "kind"] = np.nan
    signal_ = 2 * X["a"] - X["b"].fillna(0) + (X["kind"] == "r") + rng.normal(scale=0.3, size=n)
    y = signal_.to_numpy() if task == "regression" else np.where(signal_ > 0.3, "yes", "no")
    return X, y


def _pieces(X: pd.DataFrame, y: np.ndarray, cuts: list[int]):
    return lambda: ((X.iloc[s:e], y[s:e]) for s, e in zip(cuts[:-1], cuts[1:]))


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_lightgbm_fitted_from_pieces_is_the_model_fitted_on_the_frame(task):
    X, y = _table(6000, seed=5, task=task)
    est = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    # 2,000 rows sampled for the bins: the sample spans every piece
    model = est(n_estimators=25, num_leaves=15, subsample_for_bin=2000, verbose=-1, n_jobs=1)
    whole = LightGBMAdapter(model).fit(X, y)
    pieces = LightGBMAdapter(model).fit_chunks(_pieces(X, y, [0, 1500, 1501, 4000, 6000]))
    assert pieces.booster_.model_to_string() == whole.booster_.model_to_string()
    out = (lambda m: m.predict_proba(X)) if task == "classification" else (lambda m: m.predict(X))
    np.testing.assert_array_equal(out(pieces), out(whole))
    assert pieces.schema_ == whole.schema_ and pieces.n_rows_seen_ == 6000
    np.testing.assert_array_equal(pieces.replay_.y, whole.replay_.y)  # the reservoir offered the same rows in order


def test_pieces_must_share_columns_and_categories():
    X, y = _table(300, seed=1, task="regression")
    other = X.copy()
    other["kind"] = other["kind"].cat.set_categories(["p", "q", "r", "s", "t"])
    mixed = lambda: iter([(X.iloc[:150], y[:150]), (other.iloc[150:], y[150:])])  # noqa: E731
    with pytest.raises(SchemaError, match=r"piece 1\) column 'kind' is not categorical with the categories of piece 0"):
        LightGBMAdapter(lgb.LGBMRegressor(n_estimators=5, verbose=-1)).fit_chunks(mixed)
    fewer = lambda: iter([(X.iloc[:150], y[:150]), (X.iloc[150:, :3], y[150:])])  # noqa: E731
    with pytest.raises(SchemaError, match=r"X \(piece 1\) has columns \['a', 'b', 'c'\]; piece 0 has"):
        LightGBMAdapter(lgb.LGBMRegressor(n_estimators=5, verbose=-1)).fit_chunks(fewer)


def test_a_model_that_needs_one_frame_gets_the_pieces_concatenated():
    X, y = _table(400, seed=2, task="regression")
    X = X.drop(columns="kind").fillna(0.0)
    whole = SklearnAdapter(Ridge(alpha=1.0)).fit(X, y)
    pieces = SklearnAdapter(Ridge(alpha=1.0)).fit_chunks(_pieces(X, y, [0, 100, 400]))
    np.testing.assert_array_equal(pieces.predict(X), whole.predict(X))


def _store(tmp_path, batches: list[pd.DataFrame]) -> DataStore:
    store = DataStore(tmp_path)
    for seq, df in enumerate(batches):
        store.add_batch(seq, df, "y")
    return store


def test_store_chunks_are_the_rows_in_key_order_a_chunk_at_a_time(tmp_path):
    store = _store(tmp_path, make_stream(4, rows=200, seed=3))  # 800 + 3 x 200 rows
    keys = pd.DataFrame({SEQ: np.r_[np.zeros(800, int), np.ones(200, int), np.full(200, 3)],
                         POS: np.r_[np.arange(800), np.arange(200), np.arange(200)]})
    blocks = np.random.default_rng(0).permutation(12)  # 100-row runs in shuffled order: partitions read again
    for order in (np.arange(1200), np.arange(1200)[::-1], (blocks[:, None] * 100 + np.arange(100)).ravel()):
        wanted = keys.iloc[order].reset_index(drop=True)
        store.max_rows_held = 0
        chunks = list(store.chunks(wanted, rows_per_chunk=170))
        assert [len(c) for c in chunks] == [170] * 7 + [1200 - 7 * 170]
        assert store.max_rows_held == 170
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), store.rows(wanted))
    projected = next(store.chunks(keys, columns=["x1"], rows_per_chunk=10))
    assert list(projected.columns) == ["x1", SEQ, POS]


def test_reads_across_partitions_of_other_schemas_follow_pandas_rules(tmp_path):
    """Partitions of one schema are joined in Arrow before the conversion; partitions whose
    schemas differ (a column added, retyped, categories) give what pandas' concat gives."""
    store = DataStore(tmp_path)
    store.dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    parts = [pd.DataFrame({"x": rng.normal(size=30), "n": rng.integers(0, 9, 30), "s": rng.choice(["a", "b"], 30)}),
             pd.DataFrame({"x": rng.normal(size=20), "n": rng.integers(0, 9, 20), "s": rng.choice(["a", "c"], 20)}),
             pd.DataFrame({"x": rng.normal(size=20), "n": rng.normal(size=20), "new": 1.5,  # retyped, and a column added
                           "s": pd.Categorical(rng.choice(["b", "d"], 20))}),
             pd.DataFrame({"x": rng.normal(size=10), "n": rng.integers(0, 9, 10),
                           "s": pd.Categorical(rng.choice(["e"], 10))}),
             pd.DataFrame({"x": rng.normal(size=10), "n": rng.integers(0, 9, 10),  # one schema, other categories
                           "s": pd.Categorical(rng.choice(["f", "g"], 10))}),
             pd.DataFrame({"x": rng.normal(size=10), "n": pd.array(rng.integers(0, 9, 10), dtype="Int64"),
                           "s": pd.array(rng.choice(["a", "b"], 10), dtype="string")})]  # Arrow's types of 0, pandas' not
    for seq, df in enumerate(parts):
        store.add_batch(seq, df.assign(y=rng.normal(size=len(df))), "y")
    for seqs in ([0, 1], [1, 0], [0, 1, 2], [2, 3], [3, 4], [0, 5], [5, 0], [0, 1, 2, 3, 4, 5]):
        keys = pd.concat([pd.DataFrame({SEQ: s, POS: np.arange(len(parts[s]))}) for s in seqs], ignore_index=True)
        expected = pd.concat([pd.read_parquet(store._path(s)) for s in seqs], ignore_index=True)
        pd.testing.assert_frame_equal(store.rows(keys), expected)
        pd.testing.assert_frame_equal(pd.concat(list(store.chunks(keys, rows_per_chunk=25)), ignore_index=True), expected)
    assert store.rows(pd.DataFrame({SEQ: [1, 0, 1], POS: [3, 2, 0]}))["x"].tolist() == \
        [parts[1]["x"][3], parts[0]["x"][2], parts[1]["x"][0]]


def test_a_read_of_some_rows_decodes_only_the_row_groups_that_hold_them(tmp_path, monkeypatch):
    from driftkeeper.keeper import store as store_mod

    monkeypatch.setattr(store_mod, "ROW_GROUP_ROWS", 100)
    store = _store(tmp_path, make_stream(4, rows=200, seed=3))  # partition 0: 800 rows in 8 groups
    import pyarrow.parquet as pq

    assert pq.ParquetFile(store._path(0)).num_row_groups == 8
    decoded: list[int] = []
    real_read, real_iter = pq.ParquetFile.read_row_groups, pq.ParquetFile.iter_batches

    def read_row_groups(self, groups, *a, **k):
        decoded.extend(groups)
        return real_read(self, groups, *a, **k)

    def iter_batches(self, *a, row_groups=None, **k):
        decoded.extend(row_groups if row_groups is not None else range(self.num_row_groups))
        return real_iter(self, *a, row_groups=row_groups, **k)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", read_row_groups)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", iter_batches)
    newest = pd.DataFrame({SEQ: 0, POS: np.arange(750, 800)})
    got = store.rows(newest)
    assert decoded == [7] and list(got[POS]) == list(range(750, 800)) and store.max_rows_held == 50
    decoded.clear()
    spread = pd.DataFrame({SEQ: 0, POS: [799, 5, 250]})  # any order: the groups that hold them
    assert list(store.rows(spread)[POS]) == [799, 5, 250] and sorted(decoded) == [0, 2, 7]
    decoded.clear()
    chunks = list(store.chunks(pd.DataFrame({SEQ: 0, POS: np.arange(620, 800)}), rows_per_chunk=64))
    assert decoded == [6, 7] and list(pd.concat(chunks)[POS]) == list(range(620, 800))


def test_window_categories_type_every_chunk_as_the_whole_frame(tmp_path):
    batches = make_stream(3, rows=100, seed=4)
    batches[2].loc[:4, "cat"] = ["zz", "b", "new", None, "a"]  # values unseen at init, and a missing one
    spec = TableSpec.from_frame(batches[0], target="y", time_column="date", id_column="row_id")
    store = _store(tmp_path, batches)
    keys = store.index(spec)[[SEQ, POS]]
    cats = spec.window_categories(store.chunks(keys, columns=["cat"], rows_per_chunk=90))
    assert cats == {"cat": ["a", "b", "c", "new", "zz"]}
    pieces = [spec.features_chunk(c, cats) for c in store.chunks(keys, rows_per_chunk=90)]
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), spec.features_frame(store.rows(keys)))


def _keeper(tmp_path, n_batches: int = 3) -> tuple[Keeper, list]:
    batches = make_stream(n_batches, rows=300, seed=7)
    (tmp_path / "policy.yaml").write_text(RETRAIN)
    model = lgb.LGBMRegressor(n_estimators=15, num_leaves=7, random_state=0, verbose=-1, n_jobs=1)
    keeper = Keeper.init(tmp_path / "root", model, batches[0], target="y", policy=tmp_path / "policy.yaml",
                         time_column="date", id_column="row_id")
    return keeper, batches


def test_a_retrain_holds_at_most_a_chunk_and_trains_the_model_of_the_whole_window(tmp_path, monkeypatch):
    keeper, batches = _keeper(tmp_path)
    keeper.step(batches[1], html=False)
    monkeypatch.setattr(bundle, "REFERENCE_ROWS", 120)  # the drift reference: 120 rows, read alone
    keeper.store.chunk_rows = 250
    keeper.store.max_rows_held = 0
    seen = {}
    real = apply._retrain

    def spy(plan, champion, store, spec, holdout):
        seen["trained"] = real(plan, champion, store, spec, holdout)
        seen["keys"] = plan.train.keys()
        return seen["trained"]

    monkeypatch.setattr(apply, "_retrain", spy)
    record = keeper.step(batches[2], html=False)
    assert record.decision["action"] == "retrain" and record.promoted is not None
    assert keeper.store.max_rows_held == 250  # 1,800 rows trained (no holdout: the gate is off), 250 at a time
    trained, keys = seen["trained"], seen["keys"]
    rows = keeper.store.rows(keys)  # the window as one frame, as the runner loaded it before
    assert trained.n_rows == len(rows) == 1800
    whole = trained.candidate.clone().fit(keeper.spec.features_frame(rows), keeper.spec.target_values(rows["y"]))
    assert trained.candidate.booster_.model_to_string() == whole.booster_.model_to_string()
    assert trained.data == data_fingerprint(rows, keeper.spec)
    pd.testing.assert_frame_equal(trained.rows, rows.iloc[-120:].reset_index(drop=True))
    version = Registry(keeper.root).get(record.registered)
    assert version.data["rows"] == 1800 and version.metrics["train_rows"] == 1800


def test_a_small_window_is_read_once_and_trains_the_same_model(tmp_path, monkeypatch):
    keeper, batches = _keeper(tmp_path)
    keeper.step(batches[1], html=False)
    monkeypatch.setattr(bundle, "REFERENCE_ROWS", 120)
    passes = []
    real_chunks = keeper.store.chunks

    def counted(keys, **kw):
        passes.append(len(keys))
        return real_chunks(keys, **kw)

    monkeypatch.setattr(keeper.store, "chunks", counted)
    before = keeper.store.rows_read
    seen = {}
    real = apply._retrain

    def spy(plan, champion, store, spec, holdout):
        seen["trained"], seen["keys"] = real(plan, champion, store, spec, holdout), plan.train.keys()
        return seen["trained"]

    monkeypatch.setattr(apply, "_retrain", spy)
    record = keeper.step(batches[2], html=False)
    assert record.decision["action"] == "retrain"
    # 1,800 rows <= 4 chunks of 50,000: one pass reads the window (LightGBM's two passes and the
    # categories' reuse it), then the 120 reference rows
    assert passes == [1800] and keeper.store.rows_read - before == 1800 + 120
    rows = keeper.store.rows(seen["keys"])
    whole = seen["trained"].candidate.clone().fit(keeper.spec.features_frame(rows), keeper.spec.target_values(rows["y"]))
    assert seen["trained"].candidate.booster_.model_to_string() == whole.booster_.model_to_string()
    assert seen["trained"].data == data_fingerprint(rows, keeper.spec)


@pytest.mark.slow  # a real process, killed
def test_a_retrain_killed_while_reading_chunks_leaves_the_root_as_it_was(tmp_path):
    keeper, batches = _keeper(tmp_path)
    path = tmp_path / "b1.csv"
    batches[1].to_csv(path, index=False)
    reg = Registry(keeper.root)
    before = {v.version: v.sha256 for v in reg.history()}
    run_killed_at(keeper.root, path, "runner:retrain-chunk", tmp_path)
    reopened = Keeper.open(keeper.root)
    assert {v.version: v.sha256 for v in reg.history()} == before
    assert reg.get("champion").version == 1 and not list((keeper.root / "runs").glob("*/record.json"))
    record = reopened.step(path, html=False)  # the same batch again: a whole night
    assert record.status == "completed" and record.promoted == 2
    assert sorted(reopened.store.sequences()) == [0, 1]
