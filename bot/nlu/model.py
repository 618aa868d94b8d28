"""The statistical model: character n-gram TF-IDF and one linear classifier per label set.

Training uses scikit-learn (``TfidfVectorizer`` with ``analyzer="char_wb"`` and a
``LogisticRegression`` per head: the intent, and each entity with a "none" class). The bot
itself never imports scikit-learn: importing it alone costs about 0.9 s and 100 MB, more than
the whole budget of the understanding step. After training, the vocabulary, the IDF weights and
every head's coefficients are stacked into one matrix and saved (``.npz``); at run time a
message's n-grams are looked up in the vocabulary and scored with one NumPy product, which gives
the same numbers as scikit-learn's ``predict_proba`` (``tests/test_nlu_model.py`` checks it).

The model is cached by the content hash of the label set and the examples
(:func:`load_or_train`); a cold start trains it in a child process, so the scikit-learn memory
never stays in the bot.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.nlu.data import (
    CLASS_ENTITIES,
    NluDataError,
    TrainingData,
    content_digest,
    load_training,
)
from bot.nlu.textnorm import model_text, negated, normalize

#: Bump when :func:`model_text` or the vectoriser changes: old caches are then ignored.
FEATURE_VERSION = 8
#: The label of "this entity is not in the message".
NONE = "-"


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """The n-grams of scikit-learn's ``char_wb`` analyzer: per word, padded with spaces."""
    grams: list[str] = []
    for word in text.split():
        w = f" {word} "
        size = len(w)
        for n in range(low, high + 1):
            if size <= n:  # a word no longer than n is one n-gram, counted once
                grams.append(w)
                break
            grams.extend(w[i : i + n] for i in range(size - n + 1))
    return grams


@dataclass(frozen=True, slots=True)
class Head:
    """One classifier inside the stacked matrix: its labels and its columns."""

    name: str
    labels: tuple[str, ...]
    start: int
    stop: int


Scores = dict[str, list[tuple[str, float]]]


def _cue_patterns(cues: dict[str, tuple[str, ...]]) -> list[re.Pattern[str]]:
    return [
        re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
        for words in cues.values()
    ]


def cue_hits(patterns: Sequence[re.Pattern[str]], text: str) -> list[int]:
    """Returns the indexes of the cue groups one of whose words ``text`` contains."""
    norm = normalize(text)
    return [j for j, rx in enumerate(patterns) if rx.search(norm)]


def cue_spans(patterns: Sequence[re.Pattern[str]], text: str) -> tuple[dict[int, int], int]:
    """Returns {cue group: length of its longest word in ``text``} and the folded text's length."""
    norm = normalize(text)
    found: dict[int, int] = {}
    for j, rx in enumerate(patterns):
        lengths = [len(m.group()) for m in rx.finditer(norm) if not negated(norm, m.start())]
        if lengths:
            found[j] = max(lengths)
    return found, len(norm)


class Model:
    """Scores a message for every head; pure NumPy, no scikit-learn.

    Rows of ``weights``: the n-grams of ``vocab``, then one per cue group (a word list of the
    locales, see :func:`bot.nlu.data.read_cues`); columns: the heads' labels.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        idf: npt.NDArray[np.float32],
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        heads: Sequence[Head],
        ngram: tuple[int, int],
        digest: str = "",
        cues: dict[str, tuple[str, ...]] | None = None,
        cue_weight: float = 0.0,
        ovr: bool = True,
    ) -> None:
        self.vocab = vocab
        self.idf = idf
        self.weights = weights
        self.bias = bias
        self.heads = tuple(heads)
        self.ngram = ngram
        self.digest = digest
        self.cues = dict(cues or {})
        self.cue_weight = cue_weight
        self.cue_rx = _cue_patterns(self.cues)
        #: Probabilities one-vs-rest, as scikit-learn's SGDClassifier gives them (each class's
        #: sigmoid, normalised); else a softmax, as LogisticRegression's multinomial model.
        self.ovr = ovr

    def vector(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """Returns ``text``'s features as (row indexes, values): TF-IDF (L2-normalised), cues."""
        counts = Counter(
            i
            for g in char_wb_ngrams(model_text(text), *self.ngram)
            if (i := self.vocab.get(g)) is not None
        )
        hits = cue_hits(self.cue_rx, text) if self.cue_weight else []
        n = len(self.vocab)
        idx = np.fromiter(
            (*counts.keys(), *(n + j for j in hits)), dtype=np.intp, count=len(counts) + len(hits)
        )
        if counts:
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            grams = (1.0 + np.log(tf)) * self.idf[idx[: len(counts)]]  # sublinear tf, as trained
            grams /= np.sqrt(np.dot(grams, grams))
        else:
            grams = np.zeros(0, dtype=np.float32)
        values = np.concatenate([grams, np.full(len(hits), self.cue_weight, dtype=np.float32)])
        return idx, values.astype(np.float32)

    def raw(self, text: str) -> npt.NDArray[np.float32]:
        """Returns every head's decision values (before the softmax), in column order."""
        idx, values = self.vector(text)
        if len(idx) == 0:
            return self.bias.copy()
        out: npt.NDArray[np.float32] = values @ self.weights[idx] + self.bias
        return out

    def scores(self, text: str) -> Scores:
        """Returns, per head, every label with its probability, likeliest first."""
        z = self.raw(text)
        out: Scores = {}
        for head in self.heads:
            part = z[head.start : head.stop].astype(np.float64)
            if len(part) == 2:  # stored as [-z/2, z/2]: the model's own sigmoid
                p1 = 1.0 / (1.0 + np.exp(-(part[1] - part[0])))
                probs = np.array([1.0 - p1, p1])
            elif self.ovr:
                sig = 1.0 / (1.0 + np.exp(-part))
                probs = sig / sig.sum()
            else:
                part = np.exp(part - part.max())
                probs = part / part.sum()
            ranked = sorted(zip(head.labels, probs.tolist(), strict=True), key=lambda p: -p[1])
            out[head.name] = ranked
        return out

    # -- storage ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Writes the model to ``path`` (an ``.npz``), atomically."""
        words = sorted(self.vocab, key=self.vocab.__getitem__)
        meta = {
            "heads": [[h.name, list(h.labels), h.start, h.stop] for h in self.heads],
            "ngram": list(self.ngram),
            "digest": self.digest,
            "version": FEATURE_VERSION,
            "cues": {k: list(v) for k, v in self.cues.items()},
            "cue_weight": self.cue_weight,
            "ovr": self.ovr,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(
                tmp,
                vocab=np.array("\0".join(words)),
                idf=self.idf,
                weights=self.weights,
                bias=self.bias,
                meta=np.array(repr(meta)),
            )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> Model:
        """Reads a model written by :meth:`save`; raises ``ValueError`` if it is not one."""
        import ast

        with np.load(path, allow_pickle=False) as f:
            words = str(f["vocab"]).split("\0")
            meta: dict[str, Any] = ast.literal_eval(str(f["meta"]))
            if meta.get("version") != FEATURE_VERSION:
                raise ValueError(
                    f"{path}: model format {meta.get('version')}, need {FEATURE_VERSION}"
                )
            heads = [Head(n, tuple(labels), a, b) for n, labels, a, b in meta["heads"]]
            return cls(
                {w: i for i, w in enumerate(words)},
                f["idf"].astype(np.float32, copy=False),
                f["weights"].astype(np.float32, copy=False),
                f["bias"].astype(np.float32, copy=False),
                heads,
                (int(meta["ngram"][0]), int(meta["ngram"][1])),
                str(meta.get("digest", "")),
                {str(k): tuple(v) for k, v in meta.get("cues", {}).items()},
                float(meta.get("cue_weight", 0.0)),
                bool(meta.get("ovr", True)),
            )


# ----------------------------------------------------------------------------------------------
# Training (scikit-learn; only ever imported here)


def head_targets(data: TrainingData) -> dict[str, list[str]]:
    """Returns the label of every example for every head (``-`` when an entity is absent)."""
    targets: dict[str, list[str]] = {"intent": [ex.intent for ex in data.examples]}
    for key in CLASS_ENTITIES:
        if key in data.labels.entities:
            targets[key] = [str(ex.entities.get(key, NONE)) for ex in data.examples]
    return targets


def train(data: TrainingData) -> Model:
    """Fits the vectoriser and one linear classifier per head; returns the stacked model.

    The heads named in ``model.cue_heads`` (config/nlu.yaml) also see the cue features, weighted
    by ``model.cue_weight``; the others see the n-grams only.
    """
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    settings = data.labels.model
    ngram = (int(settings.get("ngram_min", 1)), int(settings.get("ngram_max", 4)))
    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=ngram,
        min_df=int(settings.get("min_df", 1)),
        sublinear_tf=True,
        lowercase=False,
        dtype=np.float32,
    )
    x = vectorizer.fit_transform([model_text(ex.text) for ex in data.examples])
    cue_weight = float(settings.get("cue_weight", 0.0))
    cue_heads = set(settings.get("cue_heads", ["intent"]))
    patterns = _cue_patterns(data.cues)
    rows, cols = [], []
    for i, ex in enumerate(data.examples):
        for j in cue_hits(patterns, ex.text):
            rows.append(i)
            cols.append(j)
    cue_x = sp.csr_matrix(
        (np.full(len(rows), cue_weight, dtype=np.float32), (rows, cols)),
        shape=(x.shape[0], len(patterns)),
    )
    n_vocab = x.shape[1]
    columns: list[npt.NDArray[np.float32]] = []
    biases: list[npt.NDArray[np.float32]] = []
    heads: list[Head] = []
    start = 0
    for name, y in head_targets(data).items():
        with_cues = name in cue_heads and cue_weight > 0
        features = sp.hstack([x, cue_x]).tocsr() if with_cues else x
        clf = _classifier(settings)
        clf.fit(features, y)
        labels = tuple(str(c) for c in clf.classes_)
        coef = np.asarray(clf.coef_, dtype=np.float32)
        bias = np.asarray(clf.intercept_, dtype=np.float32)
        if len(labels) == 2:  # a binary model has one row: as a softmax, [-z/2, z/2]
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
        if not with_cues:
            coef = np.hstack([coef, np.zeros((coef.shape[0], len(patterns)), dtype=np.float32)])
        columns.append(coef.T)
        biases.append(bias)
        heads.append(Head(name, labels, start, start + len(labels)))
        start += len(labels)
    vocab = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
    assert len(vocab) == n_vocab
    return Model(
        vocab,
        vectorizer.idf_.astype(np.float32),
        np.ascontiguousarray(np.hstack(columns), dtype=np.float32),
        np.concatenate(biases).astype(np.float32),
        heads,
        ngram,
        data.digest,
        data.cues,
        cue_weight,
        settings.get("solver", "sgd") != "lr",
    )


def _classifier(settings: dict[str, Any]) -> Any:
    """The linear model of one head, as config/nlu.yaml says (``solver``: ``sgd`` or ``lr``)."""
    if settings.get("solver", "sgd") == "lr":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(
            C=float(settings.get("c", 30.0)), max_iter=3000, class_weight="balanced"
        )
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss="log_loss",
        alpha=float(settings.get("alpha", 1e-5)),
        max_iter=int(settings.get("max_iter", 100)),
        tol=1e-4,
        class_weight="balanced",
        average=bool(settings.get("average", False)),
        random_state=0,
    )


# ----------------------------------------------------------------------------------------------
# The cache

_LOADED: dict[str, Model] = {}


class TrainingFailed(RuntimeError):
    """The model could not be trained (the message says why, in one line)."""


def cache_path(cache_dir: Path, digest: str) -> Path:
    """Where the model trained from data with ``digest`` is kept."""
    return cache_dir / f"nlu-{FEATURE_VERSION}-{digest[:16]}.npz"


def default_cache_dir() -> Path:
    """``NLU_CACHE_DIR``, else ``$XDG_CACHE_HOME/xhs-aftersales-bot``, else ``~/.cache/…``."""
    explicit = os.environ.get("NLU_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xhs-aftersales-bot"


def load_or_train(
    root: Path, cache_dir: Path | None = None, data: TrainingData | None = None
) -> Model:
    """Returns the model for the data under ``root``: from memory, the cache, or trained now.

    Training runs in a child process (``python -m bot.nlu.model ROOT OUT``) so that
    scikit-learn's memory does not stay in the bot; it validates the examples first (a problem
    is a :class:`TrainingFailed` naming file and line). Raises :class:`TrainingFailed`.
    """
    digest = data.digest if data is not None else content_digest(root)
    if digest in _LOADED:
        return _LOADED[digest]
    path = cache_path(cache_dir or default_cache_dir(), digest)
    model: Model | None = None
    if path.exists():
        try:
            model = Model.load(path)
        except (OSError, ValueError, KeyError):
            model = None  # a broken or old cache: train again
    if model is None:
        _train_in_child(root, path)
        model = Model.load(path)
    _LOADED[digest] = model
    return model


def _train_in_child(root: Path, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingFailed(f"cannot create the model cache {out.parent}: {exc}") from None
    done = subprocess.run(
        [sys.executable, "-m", "bot.nlu.model", str(root), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise TrainingFailed(f"training the understanding model failed: {' / '.join(lines[-3:])}")


def _main(argv: list[str]) -> int:
    """``python -m bot.nlu.model ROOT OUT``: trains from ROOT's data and writes OUT."""
    if len(argv) != 2:
        sys.stderr.write("usage: python -m bot.nlu.model ROOT OUT\n")
        return 2
    try:
        import sklearn  # noqa: F401
    except ImportError:
        sys.stderr.write("scikit-learn is not installed (pip install -e .)\n")
        return 1
    root, out = Path(argv[0]), Path(argv[1])
    try:
        data = load_training(root)
    except NluDataError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    train(data).save(out)
    return 0


def entropy(probs: Sequence[float]) -> float:
    """Shannon entropy of a distribution (nats), for reports."""
    return -sum(p * math.log(p) for p in probs if p > 0)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
