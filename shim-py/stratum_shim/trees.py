"""Classification trees on the Rust runtime: scikit-learn's depth-first builder, node for node.

Every classification tree scikit-learn grows on dense data (DecisionTreeClassifier,
ExtraTreeClassifier, and the trees of RandomForestClassifier / ExtraTreesClassifier, also inside
pipelines, cross-validation and searches) is built by ``DepthFirstTreeBuilder.build``. Its name
in ``sklearn.tree._classes`` is replaced by :class:`KernelBuilder`, which hands the build to the
``tree_fit`` kernel (runtime-rs ``tree.rs``) when it can reproduce it exactly, and to the real
builder otherwise. Everything around the build (validation, class encoding, bootstrap weights,
the Tree object, pruning, predict) stays scikit-learn's: the kernel returns the node arrays and
values, which go into the Tree through its own ``__setstate__``.

Supported: ``BestSplitter`` / ``RandomSplitter`` on a float32 array without missing values,
criterion ``gini`` / ``entropy`` / ``log_loss``, no monotonic constraints, sample weights that are
counts (none, or bootstrap counts; ``class_weight`` makes fractions: declined). The splitter's
random seed is drawn from the estimator's RandomState exactly as ``Splitter.init`` draws it (and
the draw is undone when the kernel declines, so the real builder draws the same one).

A forest's trees are built by one kernel call, in parallel on the runtime: the name ``Parallel``
in ``sklearn.ensemble._forest`` is replaced by :class:`ForestParallel`, which runs the forest's
``_parallel_build_trees`` tasks in the calling thread (bootstrap, validation: scikit-learn's),
collects their builds instead of running them, and then builds them all at once (a tree the
kernel cannot build is built by scikit-learn, in its place). Trees with ``ccp_alpha`` (pruning
reads the tree inside its fit) and every other use of ``Parallel`` (predict, apply) go to
joblib as before. The training matrix goes to the store once per forest, with the trees' weights.
"""

from __future__ import annotations

import os
import threading

from .dispatch import RT, shim_error

ENABLED = os.environ.get("STRATUM_TREE_KERNEL", "1") != "0"
# below this many rows (one tree) the round trip costs more than scikit-learn's build; a
# forest's trees share one round trip (see docs/ARCHITECTURE.md, "Classification trees")
MIN_TREE_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_TREE_ROWS", "5000"))
MIN_FOREST_ROWS = int(os.environ.get("STRATUM_KERNEL_MIN_FOREST_ROWS", "1000"))
RAND_R_MAX = 2147483647

_tls = threading.local()  # .pending: the builds a ForestParallel collects, in task order
stats = {"runs": 0, "declined": 0}


def install(register) -> None:
    """Replace the builder's name in sklearn.tree._classes and joblib's Parallel in
    sklearn.ensemble._forest; `register(owner, name, original)` records what to restore."""
    import sklearn.ensemble._forest as forest
    import sklearn.tree._classes as classes

    register(classes, "DepthFirstTreeBuilder", classes.DepthFirstTreeBuilder)
    KernelBuilder.original = classes.DepthFirstTreeBuilder
    classes.DepthFirstTreeBuilder = KernelBuilder
    register(forest, "Parallel", forest.Parallel)
    ForestParallel.original = forest.Parallel
    forest.Parallel = ForestParallel


def _active() -> bool:
    return ENABLED and RT.client is not None and RT.store_dir is not None


class ForestParallel:
    """Stands in for joblib's Parallel in sklearn.ensemble._forest (same constructor and call)."""

    original = None  # sklearn.utils.parallel.Parallel

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __call__(self, iterable):
        import sklearn.ensemble._forest as forest

        parallel = type(self).original(*self.args, **self.kwargs)
        if not _active() or getattr(_tls, "pending", None) is not None or self.kwargs.get("verbose"):
            return parallel(iterable)
        tasks = list(iterable)
        builds = [getattr(f, "function", f) is forest._parallel_build_trees for f, _, _ in tasks]
        if not tasks or not all(builds) or any(getattr(a[0], "ccp_alpha", None) != 0.0 for _, a, _ in tasks):
            return parallel(tasks)
        import warnings

        from sklearn import get_config
        from sklearn.utils.parallel import _with_config_and_warning_filters

        # each task as sklearn's Parallel runs it with n_jobs=1: in this thread, under the
        # config and warning filters captured now (warnings show as often as they would)
        config = get_config()
        filters = getattr(warnings, "_get_filters", lambda: warnings.filters)()
        pending = _tls.pending = []
        try:
            trees = [_with_config_and_warning_filters(f, config, filters)(*a, **k) for f, a, k in tasks]
        finally:
            _tls.pending = None
        _build_all(pending)
        return trees


class KernelBuilder:
    """Stands in for sklearn's DepthFirstTreeBuilder (same constructor, same build())."""

    original = None  # the real DepthFirstTreeBuilder

    def __init__(self, splitter, min_samples_split, min_samples_leaf, min_weight_leaf, max_depth, min_impurity_decrease):
        self.args = (splitter, min_samples_split, min_samples_leaf, min_weight_leaf, max_depth, min_impurity_decrease)

    def build(self, tree, X, y, sample_weight=None, missing_values_in_feature_mask=None):
        call = (tree, X, y, sample_weight, missing_values_in_feature_mask)
        pending = getattr(_tls, "pending", None)
        if _active():
            try:
                plan = self._plan(*call, MIN_FOREST_ROWS if pending is not None else MIN_TREE_ROWS)
            except Exception as e:
                shim_error("tree_fit", e)
                plan = None
            if plan is not None:
                if pending is not None:  # a forest's: built with its siblings after their fits
                    pending.append((self, call, plan))
                    return None
                _build_all([(self, call, plan)])
                return None
        self.fallback(call)

    def fallback(self, call):
        """scikit-learn's own build of `call`."""
        return type(self).original(*self.args).build(*call)

    def _plan(self, tree, X, y, sample_weight, mask, min_rows):
        import numpy as np
        from sklearn.tree._criterion import Entropy, Gini
        from sklearn.tree._splitter import BestSplitter, RandomSplitter

        splitter, min_samples_split, min_samples_leaf, min_weight_leaf, max_depth, min_impurity_decrease = self.args
        kind = {BestSplitter: "best", RandomSplitter: "random"}.get(type(splitter))
        if kind is None or mask is not None:
            return None
        criterion, max_features, _, _, rng, monotonic_cst = splitter.__reduce__()[1]
        crit = {Gini: "gini", Entropy: "entropy"}.get(type(criterion))
        if crit is None or monotonic_cst is not None or not isinstance(rng, np.random.RandomState):
            return None
        n_outputs, n_classes = criterion.__reduce__()[1]
        if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float32):
            return None
        if not (X.flags.c_contiguous or X.flags.f_contiguous) or X.shape[0] < min_rows or X.shape[1] == 0:
            return None
        if not (isinstance(y, np.ndarray) and y.ndim == 2 and y.dtype == np.float64 and y.shape == (X.shape[0], n_outputs)):
            return None
        if sample_weight is None:
            w = np.ones(X.shape[0], dtype=np.float64)
        elif isinstance(sample_weight, np.ndarray) and sample_weight.dtype == np.float64 and sample_weight.shape == (X.shape[0],):
            w = sample_weight
            if not np.array_equal(w, np.floor(w)):  # fractions (class_weight): sums depend on order
                return None
        else:
            return None
        classes = y.astype(np.uint32)
        if not np.array_equal(classes, y) or any((classes[:, k] >= n).any() for k, n in enumerate(n_classes)):
            return None
        options = {
            "criterion": crit, "splitter": kind, "max_depth": int(max_depth),
            "min_samples_split": int(min_samples_split), "min_samples_leaf": int(min_samples_leaf),
            "min_weight_leaf": float(min_weight_leaf), "min_impurity_decrease": float(min_impurity_decrease),
            "max_features": int(max_features), "n_classes": [int(c) for c in n_classes],
        }
        rng_state = rng.get_state()
        options["seed"] = int(rng.randint(0, RAND_R_MAX))  # what Splitter.init draws
        return {"X": X, "w": w, "classes": classes, "options": options, "rng": rng, "rng_state": rng_state}


def _build_all(builds):
    """Build `builds` ((builder, call, plan), one forest's or one tree) by the kernel in one
    call, trees of the same training matrix and classes together; scikit-learn builds the rest."""
    groups: list[list] = []
    for b in builds:
        plan = b[2]
        for g in groups:
            first = g[0][2]
            if first["X"] is plan["X"] and first["classes"].shape == plan["classes"].shape and (first["classes"] == plan["classes"]).all():
                g.append(b)
                break
        else:
            groups.append([b])
    for group in groups:
        try:
            done = _run(group)
        except Exception as e:
            shim_error("tree_fit", e)
            done = False
        if done:
            stats["runs"] += len(group)
            continue
        stats["declined"] += len(group)
        for builder, call, plan in group:
            plan["rng"].set_state(plan["rng_state"])  # the real builder draws the same seed
            builder.fallback(call)


def _run(group) -> bool:
    """Build the trees of `group` (one training matrix, one y) through the kernel and load
    their nodes; False when it declined (no tree is touched then)."""
    import numpy as np
    import pyarrow as pa
    from sklearn.tree._tree import NODE_DTYPE

    from .kernels import _kernel

    first = group[0][2]
    X, classes = first["X"], first["classes"]
    inputs = {f"x{j}": np.ascontiguousarray(X[:, j]) for j in range(X.shape[1])}
    inputs.update({f"y{k}": np.ascontiguousarray(classes[:, k]) for k in range(classes.shape[1])})
    inputs.update({f"w{t}": plan["w"] for t, (_, _, plan) in enumerate(group)})
    res = _kernel("tree_fit", pa.table(inputs), {"trees": [plan["options"] for _, _, plan in group]})
    if res is None:
        return False
    tree_of = res.column("tree").to_numpy()
    bounds = np.searchsorted(tree_of, np.arange(len(group) + 1))
    columns = {name: res.column(name).to_numpy() for name in NODE_DTYPE.names}
    values = np.ascontiguousarray(res.column("values").combine_chunks().flatten().to_numpy(), dtype=np.float64)
    depth = res.column("max_depth").to_numpy()
    for t, (_, call, _) in enumerate(group):
        tree, lo, hi = call[0], bounds[t], bounds[t + 1]
        nodes = np.zeros(hi - lo, dtype=NODE_DTYPE)
        for name in NODE_DTYPE.names:
            nodes[name] = columns[name][lo:hi]
        width = tree.n_outputs * tree.max_n_classes
        vals = values[lo * width:hi * width].reshape(hi - lo, tree.n_outputs, tree.max_n_classes)
        tree.__setstate__({"max_depth": int(depth[lo]), "node_count": int(hi - lo), "nodes": nodes, "values": vals})
    return True
