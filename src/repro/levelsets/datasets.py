"""The paper's data (spec section 2, code `Datasets.py`) as float32 tensors.

`load(params, manifests, generator)` returns a `Split`: the fixed training set S in the
fixed order phase 1 sees it (Keras caches the shuffled `take` once), and the test set.
Classification targets are class indices (the one-hot cross-entropy of Keras is the
same number); regression targets are the raw MPG values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repro.data import load_images, load_table

MPG_FEATURES = [
    "cylinders",
    "displacement",
    "horsepower",
    "weight",
    "acceleration",
    "model_year",
    "Europe",
    "Japan",
    "USA",
]
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    regression: bool

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    def to(self, device) -> Split:
        """The split on `device` (loaded and shuffled on the CPU, the same on any device)."""
        x_train, y_train, x_test, y_test = (
            t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)
        )
        return Split(x_train, y_train, x_test, y_test, self.regression)


def _images(params, manifest, generator, flatten: bool) -> Split:
    data = load_images(manifest)
    order = torch.randperm(len(data.x_train), generator=generator, device="cpu")
    keep = order[: params["train_subset"] or len(order)].numpy()
    test = slice(0, params["test_subset"] or len(data.x_test))

    def pixels(images):
        x = torch.from_numpy(np.ascontiguousarray(images)).float() / 255.0
        return x.reshape(len(x), -1) if flatten else x

    return Split(
        pixels(data.x_train[keep]),
        torch.from_numpy(data.y_train[keep]),
        pixels(data.x_test[test]),
        torch.from_numpy(data.y_test[test]),
        regression=False,
    )


def _standardise(train, test):
    """z-score with the training mean and std (pandas, ddof = 1)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / std, (test - mean) / std


def mpg_frames(manifest):
    """Auto-MPG as the TF tutorial prepares it: (x_train, y_train, x_test, y_test) frames."""
    table = load_table(manifest).drop(columns="car_name").dropna()
    table["origin"] = table.pop("origin").map({1: "USA", 2: "Europe", 3: "Japan"})
    table = table.join(table.pop("origin").str.get_dummies().astype(float))
    train = table.sample(frac=0.8, random_state=0)
    test = table.drop(train.index)
    y_train, y_test = train.pop("mpg"), test.pop("mpg")
    x_train, x_test = _standardise(train[MPG_FEATURES].astype(float), test[MPG_FEATURES])
    return x_train, y_train, x_test, y_test


def iris_frames(manifest, split_seed: int):
    """The 150-row iris table split 120/30, stratified (40/10 per class), seeded.

    Deviation (spec pitfall 13): TensorFlow's fixed iris_training/iris_test files are not
    in the mirror.
    """
    table = load_table(manifest)
    rng = np.random.RandomState(split_seed)
    test_rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(table["species"] == s), 10, replace=False)
            for s in sorted(set(table["species"]))
        ]
    )
    test = table.iloc[np.sort(test_rows)]
    train = table.drop(test.index)
    classes = {s: i for i, s in enumerate(sorted(set(table["species"])))}
    x_train, x_test = _standardise(train[IRIS_FEATURES], test[IRIS_FEATURES])
    return x_train, train["species"].map(classes), x_test, test["species"].map(classes)


def _table(frames, generator, regression: bool) -> Split:
    x_train, y_train, x_test, y_test = frames
    dtype = torch.float32 if regression else torch.int64
    order = torch.randperm(len(x_train), generator=generator, device="cpu")  # cached shuffle
    cpu = torch.device("cpu")
    return Split(
        torch.tensor(x_train.to_numpy(np.float32), device=cpu)[order],
        torch.tensor(y_train.to_numpy(), dtype=dtype, device=cpu)[order],
        torch.tensor(x_test.to_numpy(np.float32), device=cpu),
        torch.tensor(y_test.to_numpy(), dtype=dtype, device=cpu),
        regression=regression,
    )


def load(params: dict, manifests: dict, generator: torch.Generator) -> Split:
    """The training subset S (order drawn from `generator`) and the test set."""
    manifest = manifests[params["dataset"]]
    arch = params["architecture"]
    if params["dataset"] in ("mnist", "cifar10"):
        return _images(params, manifest, generator, flatten=arch.endswith("_FF"))
    if params["dataset"] == "iris":
        return _table(iris_frames(manifest, params["split_seed"]), generator, regression=False)
    if params["dataset"] == "auto_mpg":
        return _table(mpg_frames(manifest), generator, regression=True)
    raise ValueError(f"levelsets has no loader for dataset {params['dataset']!r}")
