"""Schema evolution: a batch whose columns differ from the serving model's features.

The policy's ``schema_change`` says what a night does with it:

* ``retrain`` (the default): a **new column** becomes a feature through a full retrain (older
  stored rows read it as missing: their partitions lack it, see ``TableSpec.missing_ok``); a
  **vanished column** the model uses leaves the features through a retrain without it (the drift
  reference is refitted without it too). The decision is ``retrain`` with rule
  ``schema_change``, whatever the rules said: a model cannot serve a batch without its columns,
  and a new column is the textbook case for retraining from scratch. A new column no labelled row
  carries yet is *pending*: the retrain waits for labelled values (a model cannot learn from a
  column it has only seen missing), and the champion serves without it meanwhile. A new column
  the gate refused :data:`GIVE_UP_AFTER` retrains for (while the same champion serves) is left
  out as under ``ignore_new``, with a note that needs attention: a column that does not improve
  the model would otherwise cost a full retrain every night. A new column alone does not break
  the budget: past the budget's allowance the retrain waits (the champion serves without it);
* ``refuse``: either is refused (exit 2, nothing changed), naming the columns and the fixes;
* ``ignore_new``: new columns are left out of the features with a warning — the data store keeps
  the batch as it arrived, new columns included, so switching to ``retrain`` later trains on
  their history; a vanished column is refused as under ``refuse``.

``--exclude COL`` on an existing root (``Keeper.step(..., exclude=[...])``) takes a feature out
from that night on: it counts as a vanished feature (a retrain without it, under every mode: the
user asked), and it is kept in ``ROOT/keeper.json`` (``exclude``) so later nights leave it out
silently. A column that is not a feature (a new id, a leak) is simply never one.

``ROOT/keeper.json``'s ``spec`` is the *serving* schema: the champion's features. It changes
when a retrain with the new features is promoted (:func:`adopt`), and follows the champion
(:func:`sync`) whenever the two differ: after a rollback or a manual promotion to a version with
other features, or a night killed between its promotion and its config write. The version
records its features and the change from its parent (``data.features``,
``data.schema_change``: the registry's lineage).

Before anything is written, a retrain with new features is tried on a sample of its rows
(:func:`probe`): a model that cannot train on them (a pipeline that names its columns) is
refused with nothing stored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .._util.io import read_table, write_json_atomic
from .._util.suggest import closest, suggest
from ..exceptions import DriftkeeperError, SchemaError
from ..table import TableSpec
from .root import CONFIG_FILE
from .store import LABELLED, POS, SEQ

__all__ = ["SchemaChange", "adopt", "detect", "gate", "load_batch", "override", "persist_excludes", "probe", "sync"]

#: The fixes a refused schema change names.
FIX = "set `schema_change: retrain` in the root's policy.yaml to retrain with the new columns, or pass --exclude COL to drop a column for good"

#: Retrains with a new column the gate may refuse (while one champion serves) before the column
#: is left out of the features.
GIVE_UP_AFTER = 2

#: Rows of each kind (stored, tonight's) :func:`probe` fits on.
PROBE_ROWS = 64


@dataclass
class SchemaChange:
    """Tonight's batch against the serving features, and what the policy makes of it."""

    mode: str
    read: TableSpec  # what the batch is validated against
    serving: TableSpec  # the champion's features; the ones the batch lacks read as missing
    new: TableSpec | None = None  # the features a retrain trains on (None: no retrain for the schema)
    added: list[str] = field(default_factory=list)  # new columns that become features
    removed: list[str] = field(default_factory=list)  # features the batch lacks
    excluded: list[str] = field(default_factory=list)  # features --exclude takes out
    ignored: list[str] = field(default_factory=list)  # new columns ignore_new leaves out
    pending: list[str] = field(default_factory=list)  # new columns no labelled row carries yet
    exclude_now: list[str] = field(default_factory=list)  # --exclude columns to keep in keeper.json
    given_up: list[str] = field(default_factory=list)  # new columns left out after GIVE_UP_AFTER refused retrains
    deferred: list[str] = field(default_factory=list)  # new columns whose retrain waits for the budget
    warnings: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)  # the run record's needs_attention

    @property
    def retrain(self) -> bool:
        return self.new is not None

    @property
    def dropped(self) -> list[str]:
        """Features the retrain leaves out (vanished or excluded)."""
        return self.removed + self.excluded

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mode": self.mode, "retrain": self.retrain}
        for key in ("added", "removed", "excluded", "ignored", "pending", "given_up", "deferred"):
            if getattr(self, key):
                d[key] = list(getattr(self, key))
        if self.new is not None:
            d["features"] = list(self.new.features)
        return d

    def lineage(self, parent: int) -> dict[str, Any]:
        """What a version trained on the new features records about its parent's."""
        return {"parent": parent, "added": list(self.added), "removed": list(self.dropped),
                **({"excluded": list(self.excluded)} if self.excluded else {})}

    def text(self) -> str:
        """Why the schema retrains, in words."""
        parts = []
        if self.added:
            parts.append(f"the batch adds column(s) {self.added}: a new feature needs a retrain from scratch "
                         "(older rows read it as missing)")
        if self.removed:
            parts.append(f"the batch lacks column(s) {self.removed} the model uses: a model cannot serve a batch "
                         "without its columns")
        if self.excluded:
            parts.append(f"column(s) {self.excluded} are excluded (--exclude)")
        return "; ".join(parts)


def load_batch(batch: Any) -> tuple[str | None, pd.DataFrame]:
    """The batch as a frame, and its file name (``None`` for a frame)."""
    if isinstance(batch, (str, Path)):
        return str(batch), read_table(batch, what="batch")
    return None, batch.reset_index(drop=True)


def _column_spec(values: pd.Series) -> TableSpec:
    """Kind, categories and dates of one new column, inferred as init infers them."""
    name = str(values.name)
    target = "__dk_target" if name != "__dk_target" else "__dk_target_"
    return TableSpec.from_frame(pd.DataFrame({name: values.to_numpy(), target: 0.0}), target=target, task="regression")


def _with_features(spec: TableSpec, keep: list[str], added: dict[str, TableSpec], exclude: list[str],
                   missing_ok: list[str]) -> TableSpec:
    """``spec`` with the features ``keep`` (in order) plus the ``added`` ones."""
    kinds = {c: spec.kinds[c] for c in keep}
    categories = {c: v for c, v in spec.categories.items() if c in keep}
    dates = [c for c in spec.dates if c in keep]
    for c, one in added.items():
        kinds[c] = one.kinds[c]
        categories.update(one.categories)
        dates.extend(one.dates)
    return dataclasses.replace(spec, features=list(keep) + list(added), kinds=kinds, categories=categories, dates=dates,
                               exclude=list(dict.fromkeys(exclude)), missing_ok=list(dict.fromkeys(missing_ok)))


def _check_exclude(spec: TableSpec, exclude: list[str], cols: list[str], known: set[str], what: str) -> None:
    roles = {"target": spec.target, "time column": spec.time_column, "id column": spec.id_column}
    for c in exclude:
        for role, name in roles.items():
            if c == name:
                raise SchemaError(f"--exclude {c!r}: it is this root's {role}, not a feature; nothing to exclude")
        if c not in cols and c not in spec.features and c not in known:
            choices = sorted(set(spec.features) | (set(cols) - {n for n in roles.values() if n}))
            raise SchemaError(f"--exclude {c!r} is not a column of {what} nor a feature of this root"
                              f"{suggest(c, choices)}; features: {spec.features}")


def _carried(col: str, df: pd.DataFrame, labelled: bool, store: Any, stored: pd.DataFrame | None) -> pd.Series | None:
    """Values of a new column on labelled rows (tonight's, or stored batches that held the column
    and have labelled rows), or ``None`` when no labelled row carries any."""
    if labelled and df[col].notna().any():
        return df[col]
    if store is None or stored is None or not len(stored):
        return None
    seqs = set(int(s) for s in stored.loc[stored[LABELLED].astype(bool), SEQ].unique())
    for seq in sorted(seqs, reverse=True):
        path = store.dir / f"b{seq:06d}.parquet"
        if path.exists() and col in pq.read_schema(path).names:
            values = pd.read_parquet(path, columns=[col])[col]
            if values.notna().any():
                return values.rename(col)
    return None


def detect(spec: TableSpec, df: pd.DataFrame, *, mode: str, excluded: list[str] | tuple[str, ...] = (),
           exclude: list[str] | tuple[str, ...] = (), labelled: bool | None = None, store: Any = None,
           stored: pd.DataFrame | None = None, policy: Any = None, name: str | None = None,
           registry: Any = None) -> SchemaChange:
    """Compare the batch's columns with the serving features ``spec`` under ``mode``.

    ``excluded``: columns ``--exclude`` took out on earlier nights (``keeper.json``); ``exclude``:
    tonight's. ``store``/``stored`` (the data store and its row index) tell whether labelled rows
    already carry a new column; ``registry`` which new columns the gate refused retrains for
    (:data:`GIVE_UP_AFTER`). Raises :class:`SchemaError` (one line naming the columns and the
    fix) for what the mode refuses and for an ``--exclude`` naming no column; the policy's
    :class:`PolicyError` when a rule names a column the change takes away."""
    what = f"batch {name!r}" if name else "batch"
    cols = [str(c) for c in df.columns]
    if any(c is not None and c not in cols for c in (spec.time_column, spec.id_column)) or not len(df):
        # a batch without its time or id column (or without rows) is refused whatever its features:
        # validation says so, naming every missing column as it always has
        return SchemaChange(mode=mode, read=spec, serving=spec)
    exclude = list(dict.fromkeys(str(c) for c in exclude))
    _check_exclude(spec, exclude, cols, set(spec.exclude) | set(excluded), what)
    excl = set(spec.exclude) | set(excluded) | set(exclude)
    roles = {spec.target, spec.time_column, spec.id_column} - {None}
    out_feats = [f for f in spec.features if f in excl]
    removed = [f for f in spec.features if f not in cols and f not in excl]
    new_cols = [c for c in cols if c not in spec.features and c not in roles and c not in excl]
    change = SchemaChange(mode=mode, read=spec, serving=spec, excluded=out_feats,
                          exclude_now=[c for c in exclude if c not in set(spec.exclude) | set(excluded)])
    if mode == "refuse" and (removed or new_cols) or mode == "ignore_new" and removed:
        parts = []
        if removed:
            parts.append(f"missing column(s) {removed}{suggest(removed[0], new_cols) if new_cols else ''}")
        if new_cols and mode == "refuse":
            parts.append(f"unexpected column(s) {new_cols}")
        raise SchemaError(f"{what} does not match the training schema: {'; '.join(parts)} (schema_change: {mode}); {FIX}")
    added: dict[str, TableSpec] = {}
    if mode == "ignore_new":
        change.ignored = new_cols
        if new_cols:
            change.warnings.append(f"column(s) {new_cols} are new and left out of the features (schema_change: "
                                   "ignore_new); the data store keeps them")
    elif new_cols:
        if labelled is None:
            labelled = spec.target in cols and df[spec.target].notna().all()
        _give_up(change, registry, new_cols)
        for c in (c for c in new_cols if c not in change.given_up):
            values = _carried(c, df, labelled, store, stored)
            if values is None:
                change.pending.append(c)
            else:
                added[c] = _column_spec(values.rename(c))
        if change.pending:
            change.warnings.append(f"column(s) {change.pending} are new, and no labelled row carries a value yet: the "
                                   "retrain that makes them features waits for labelled rows with them (the serving "
                                   "model ignores them meanwhile)")
    change.added = list(added)
    change.removed = removed
    for c in removed:  # a header typo would otherwise retrain quietly with a column "renamed"
        if suggest(c, new_cols):
            change.warnings.append(f"column {c!r} vanished and {closest(c, new_cols)!r} is new: if it is {c!r} renamed, "
                                   f"rename it back in the batch (this night treats them as two columns)")
    # excluded columns are not features, and a batch may lack them (they were never used)
    present_excl = [c for c in cols if c in excl and c not in roles]
    keep = [f for f in spec.features if f not in excl and f not in removed]
    # the batch is validated against the features it carries: the kept ones present, the added ones
    read_keep = [f for f in keep if f in cols]
    change.read = _with_features(spec, read_keep, added, present_excl + change.ignored + change.pending + change.given_up,
                                 spec.missing_ok)
    change.serving = dataclasses.replace(spec, missing_ok=list(dict.fromkeys(
        list(spec.missing_ok) + removed + [f for f in out_feats if f not in cols])))
    if added or removed or out_feats:
        if not keep and not added:
            raise SchemaError(f"{what}: no feature column would be left after the schema change "
                              f"(removed {removed + out_feats}); init a new root for this table")
        new_exclude = list(spec.exclude) + out_feats + [c for c in change.exclude_now if c not in spec.features]
        change.new = _with_features(spec, keep, added, new_exclude,
                                    [c for c in spec.missing_ok if c in keep] + list(added))
        if policy is not None:
            policy.check_columns(change.new.kinds, "the table after the schema change")
    return change


def _give_up(change: SchemaChange, registry: Any, new_cols: list[str]) -> None:
    """Leave out the new columns the gate refused :data:`GIVE_UP_AFTER` retrains for while the
    champion serves: the registry's versions whose lineage names the champion as parent and the
    column as added, and that are not the champion. A new champion gives them new tries."""
    if registry is None or not new_cols:
        return
    champion = registry.get("champion").version
    tried: dict[str, list[int]] = {c: [] for c in new_cols}
    for v in registry.history():  # newest first; a champion's children are newer than it
        if v.version <= champion:
            break
        lineage = (v.data or {}).get("schema_change") or {}
        if lineage.get("parent") == champion:
            for c in lineage.get("added") or ():
                if c in tried:
                    tried[c].append(v.version)
    out = {c: sorted(vs) for c, vs in tried.items() if len(vs) >= GIVE_UP_AFTER}
    if not out:
        return
    change.given_up = list(out)
    versions = sorted({v for vs in out.values() for v in vs})
    change.warnings.append(f"column(s) {change.given_up} are new, and the gate refused the retrains that made them "
                           f"features (v{', v'.join(f'{v:04d}' for v in versions)}): they are left out of the features "
                           f"while v{champion:04d} serves (as under schema_change: ignore_new); the data store keeps them")
    change.attention.append(f"new column(s) {change.given_up} did not improve the model in {GIVE_UP_AFTER} retrains: "
                            f"pass --exclude COL to leave them out for good, or promote v{versions[-1]:04d} to use them")


def _over_budget(policy: Any, obs: Any) -> str | None:
    """Why the budget holds a retrain back tonight (the budget guard's rule), or ``None``."""
    from ..policy import budget_holds_retrain

    if obs is None or not policy.spec.budget or obs.ledger is None:
        return None
    return budget_holds_retrain(obs.ledger.left_s(), (obs.costs or {}).get("retrain_cost_s"))


def override(decision: Any, change: SchemaChange, policy: Any, obs: Any = None) -> Any:
    """The night's decision under a schema change: a retrain with the policy's retrain window, rule
    ``schema_change``, whatever the rules said (``requested`` keeps what they decided).

    A change that only adds columns respects the budget (``obs``: tonight's observation, its
    ledger): past the allowance the retrain waits, and the rules' decision stands — the champion
    serves without the new columns meanwhile. A vanished or excluded feature retrains whatever
    the budget: the champion cannot serve without it."""
    if not change.retrain:
        return decision
    over = None if change.dropped else _over_budget(policy, obs)
    if over is not None:
        change.deferred, change.added, change.new = change.added, [], None
        change.warnings.append(f"column(s) {change.deferred} are new, but {over}: the retrain that makes them "
                               "features waits for the budget (the champion serves without them)")
        return decision
    return dataclasses.replace(decision, action="retrain", params=policy.params_for("retrain"), rule="schema_change",
                               requested=decision.action, guards=())


def annotate(record: Any, change: SchemaChange, decision: Any, before_text: str) -> None:
    """The run record's decision says why (``schema_change``) and what the rules had decided."""
    from ..policy.describe import params_text

    if record.decision is not None and (change.retrain or change.ignored or change.pending or change.exclude_now
                                        or change.given_up or change.deferred):
        record.decision["schema_change"] = change.to_dict()
    if change.retrain:
        record.decision["schema_change"]["overrides"] = before_text
        verdict = "; promoted whatever the gate says" if change.dropped else ""
        record.decision_text = (f"retrain{params_text('retrain', dict(decision.params))} — schema change: {change.text()}; "
                                f"features after it: {change.new.features}{verdict} (the rules said: {before_text})")
    record.warnings.extend(change.warnings)
    record.needs_attention.extend(change.attention)
    if change.dropped and record.plan is not None and not record.plan.get("skipped"):
        record.plan["outcome"] = (f"the candidate would be registered and promoted whatever the gate says: column(s) "
                                  f"{change.dropped} leave the features, and the champion uses them")


def gate(change: SchemaChange, trained: Any, champion: Any, champion_metrics: dict[str, Any], policy: Any,
         spec: TableSpec) -> Any:
    """The gate of a retrain with the new features.

    New columns only: the champion serves the batch as it is (it ignores the new columns), so the
    gate compares the two as usual — each on the same held-out rows with its own features — and a
    refused candidate leaves the champion serving without them (the next night tries again, with
    more rows carrying the new columns).

    A feature vanished or excluded: the verdict is not applied, the candidate is promoted. The
    champion cannot serve tomorrow's batches without the column, so "keep the champion" is no
    option to choose; and a comparison on held-out rows would be meaningless either way — with
    the column filled as missing the champion is scored on inputs it never saw in training, and
    with an excluded column still present (an id, a leak) it is flattered by exactly what the
    user took out. Both scores are still recorded (the champion's with the column as missing)
    when the champion can compute them."""
    from . import apply

    if not change.dropped:
        return apply.gate(trained, champion, champion_metrics, policy, spec, champion_spec=change.serving)
    try:
        scored = apply.gate(trained, champion, champion_metrics, policy, spec, champion_spec=change.serving)
        record, metrics = dict(scored.record), dict(scored.metrics)
        verdict = f"it would have {'passed' if scored.passed else 'refused'}: {record.get('explanation')}"
    except (DriftkeeperError, ValueError) as exc:  # a champion that cannot take the column as missing
        scored = apply.gate(trained, trained.candidate, champion_metrics, policy, spec)
        record, metrics = dict(scored.record), dict(scored.metrics)
        record["champion"] = None
        verdict = f"the champion cannot be scored without them ({str(exc).splitlines()[0].split(': ')[0]})"
    record.update(passed=True, schema_change=True,
                  explanation=f"gate not applied: column(s) {change.dropped} left the features "
                              f"({'--exclude' if not change.removed else 'the batches lack them'}), and the champion "
                              f"uses them; promoted ({verdict})")
    return apply.GateResult(True, record, metrics)


def adopt(keeper: Any, spec: TableSpec) -> None:
    """Make ``spec`` the root's serving schema (``keeper.json``), with the version that uses it."""
    keeper.spec = spec
    keeper.config["spec"] = spec.to_dict()
    write_json_atomic(keeper.root / CONFIG_FILE, keeper.config)


def persist_excludes(keeper: Any, change: SchemaChange) -> None:
    """At the end of a night that stored its batch: keep tonight's ``--exclude`` columns in
    ``keeper.json`` (later nights leave them out), and with them the serving schema :func:`sync`
    took from the champion. Writes only what differs from the file."""
    if change.exclude_now:
        keeper.config["exclude"] = list(dict.fromkeys(list(keeper.config.get("exclude") or []) + change.exclude_now))
    path = keeper.root / CONFIG_FILE
    if json.loads(path.read_text()) != keeper.config:
        write_json_atomic(path, keeper.config)


def sync(keeper: Any, *, write: bool) -> bool:
    """Make the serving schema the champion's own when ``keeper.json``'s features differ from it:
    after a rollback or a manual promotion to a version with other features, or a night killed
    between its promotion and its config write. Reads the champion's ``data.features`` (its
    bundle only when they differ, or for a version that predates them). ``write``: into
    ``keeper.json`` too (call it holding the run lock); otherwise in memory, for a night that
    writes it only once its batch is stored (:func:`persist_excludes`). True when the schema changed."""
    feats = (keeper.registry.get("champion").data or {}).get("features")
    if feats is not None and list(feats) == list(keeper.spec.features):
        return False
    bundle_spec = keeper.registry.load("champion").spec
    if list(bundle_spec.features) == list(keeper.spec.features):
        return False
    keeper.spec = bundle_spec
    keeper.config["spec"] = bundle_spec.to_dict()
    if write:
        write_json_atomic(keeper.root / CONFIG_FILE, keeper.config)
    return True


def already_processed(change: SchemaChange, by: str, name: str | None) -> None:
    """A batch processed before is a no-op; an ``--exclude`` with it would be silently lost."""
    if change.exclude_now:
        raise SchemaError(f"{f'batch {name!r}' if name else 'the batch'} was already processed (by {by}), so --exclude "
                          f"{change.exclude_now} would not apply; pass --exclude with the next new batch")


def _probe_rows(change: SchemaChange, plan: Any, batch: Any, store: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few labelled training rows of the plan, read before tonight's batch is stored: stored
    ones (with tonight's late labels), and tonight's own."""
    spec, keys = change.new, plan.train.keys()
    out = []
    for part, tonight in ((keys[keys[SEQ] < batch.seq], False), (keys[keys[SEQ] == batch.seq], True)):
        if not len(part):
            out.append(pd.DataFrame())
            continue
        part = part.iloc[np.unique(np.linspace(0, len(part) - 1, min(len(part), PROBE_ROWS)).round().astype(int))]
        rows = (batch.df.iloc[part[POS].to_numpy()] if tonight else store.rows(part)).reset_index(drop=True)
        if spec.target not in rows:
            rows[spec.target] = np.nan
        if not tonight and batch.labels is not None:
            late = rows[spec.id_column].map(batch.labels.set_index(spec.id_column)[spec.target])
            rows[spec.target] = rows[spec.target].where(rows[spec.target].notna(), late)
        out.append(rows[rows[spec.target].notna()])
    return out[0], out[1]


def probe(change: SchemaChange | None, plan: Any, obs: Any, batch: Any, store: Any) -> None:
    """Before anything is written, fit a clone of the champion on a few of the retrain's rows with
    the new features: a model that cannot train on them is refused now (one line naming the
    columns and the fixes), not after the batch and its labels are stored. A failure the serving
    features share on the same rows (a sample of one class, too few rows) is the sample's, not the
    schema's: the night goes on and the full retrain decides."""
    if change is None or not change.retrain or plan is None or plan.skip or plan.action != "retrain":
        return
    stored, tonight = _probe_rows(change, plan, batch, store)
    rows, model, new, serving = pd.concat([stored, tonight], ignore_index=True), obs.bundle.adapter, change.new, change.serving
    if not len(rows):
        return
    try:
        model.clone().fit(new.features_frame(rows), new.target_values(rows[new.target]))
        return
    except Exception as exc:  # any error of the model's own code: named below
        failure = exc
    # the serving features on rows that carry them all (tonight's lack a vanished column)
    same = stored if change.dropped and len(stored) else rows
    try:
        model.clone().fit(serving.features_frame(same), serving.target_values(same[serving.target]))
    except Exception:
        return
    raise SchemaError(_train_failure(change, failure)) from failure


def _train_failure(change: SchemaChange, exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (f"retraining with the new features failed ({change.text()}): {type(exc).__name__}: {first}; nothing was "
            "changed; a pipeline must select its columns by dtype (sklearn make_column_selector), or set "
            "`schema_change: refuse` / `ignore_new` in the policy, or pass --exclude COL")


def train(change: SchemaChange | None, plan: Any, champion: Any, store: Any, spec: TableSpec) -> Any:
    """:func:`~driftkeeper.keeper.apply.train`; a retrain with new features that the model cannot
    fit (a pipeline that names its columns) is one line naming the columns and the fixes."""
    from . import apply

    if change is None or not change.retrain:
        return apply.train(plan, champion, store, spec)
    try:
        return apply.train(plan, champion, store, spec)
    except DriftkeeperError:
        raise
    except Exception as exc:
        raise SchemaError(_train_failure(change, exc).replace("; nothing was changed", "")) from exc


def not_applied(record: Any, change: SchemaChange | None, why: str | None) -> None:
    """The schema change waits for another night: say so (a person must know when the champion
    serves batches that lack its columns)."""
    if change is None or not change.retrain:
        return
    record.warnings.append(f"schema change not applied ({why}): the champion keeps its features "
                           f"{change.serving.features}; the next night tries again")
    if change.dropped:
        record.needs_attention.append(f"the serving model uses column(s) {change.dropped} that left the features, "
                                      "and the retrain without them did not happen")
