"""Near-duplicate index (MinHash/LSH) and the trainable classifier (train, save/load, evaluate)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import triage
from tests.conftest import shared_path
from triage import duplicates
from triage.training import (
    FeatureConfig,
    _fit,
    _prepare,
    _transform,
    cv_data,
    near_duplicate_groups,
    scores_from,
)

REPORT = (
    "举报长沙县黄兴镇金凤村党支部书记张某某在2022年低保评定中优亲厚友，把三个低保名额给了自己的亲戚，"
    "真正困难的村民王某某一家却被取消了低保。村民多次向镇里反映，至今没有处理结果，请纪委调查核实。"
)


def test_near_duplicate_across_channels_and_scripts(jurisdiction: triage.Jurisdiction) -> None:
    index = triage.DuplicateIndex()
    index.add("XF2024-000001", "与本案无关的一份举报：某局违规发放津贴补贴，涉及金额较大，请查处。")
    index.add("XF2024-000002", REPORT)
    edited = REPORT.replace("请纪委调查核实。", "恳请上级纪委调查核实！")
    assert index.query(edited) == "XF2024-000002"
    assert index.query(triage.normalize(REPORT).replace("低保", "低保金", 1)) == "XF2024-000002"
    r = triage.triage(edited, channel="wechat", jurisdiction=jurisdiction, duplicates=index)
    assert r.duplicate_of == "XF2024-000002" and r.priority in ("high", "urgent")
    assert index.query("反映小区物业乱收费，噪音扰民，希望有关部门尽快解决。") is None


def test_signature_is_stable_and_feeds_the_index(jurisdiction: triage.Jurisdiction) -> None:
    r = triage.triage(REPORT, jurisdiction=jurisdiction)
    assert len(r.signature) == 4 * duplicates.NUM_PERM
    assert r.signature == triage.DuplicateIndex.signature(REPORT)
    # Known answer: the permutations are fixed, so stored signatures stay valid across releases.
    sig = duplicates.signature(["张某某", "贪污", "扶贫款"])
    assert sig.dtype == np.uint32
    assert [int(v) for v in sig[:4]] == [198986828, 290291333, 2745131133, 544609856]
    index = triage.DuplicateIndex()
    index.add_signature("A-1", r.signature)
    assert index.query_signature(r.signature) == "A-1"


def test_bulk_load_and_merge_keep_the_earliest_case() -> None:
    rng = np.random.default_rng(1)
    sigs = rng.integers(0, 2**32, size=(5000, duplicates.NUM_PERM), dtype=np.uint64).astype(np.uint32)
    index = triage.DuplicateIndex(merge_every=100)
    index.add_signatures([f"C{i}" for i in range(5000)], sigs)
    for i in range(150):  # crosses a merge
        index.add_signature(f"D{i}", sigs[i])
    assert len(index) == 5150
    assert index.query_signature(sigs[42]) == "C42"
    assert index.query_signature(rng.integers(0, 2**32, size=duplicates.NUM_PERM).astype(np.uint32)) is None


LABELS = {
    "城乡建设": [
        "小区物业乱收费",
        "房屋质量问题严重",
        "开发商延期交房",
        "违章建筑无人管",
        "小区电梯经常故障",
    ],
    "环境保护": [
        "工厂夜间偷排污水",
        "河道污染严重发臭",
        "搅拌站粉尘污染",
        "养猪场臭气熏天",
        "垃圾焚烧冒黑烟",
    ],
    "教育文体": ["学校违规补课收费", "幼儿园入学难", "教师体罚学生", "学区划分不合理", "校车超载严重"],
}


def _synthetic(n: int, seed: int) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    places = ["A市", "B县", "C区", "长沙县", "星沙街道"]
    texts, labels = [], []
    for _ in range(n):
        label = rnd.choice(list(LABELS))
        texts.append(f"{rnd.choice(places)}{rnd.choice(LABELS[label])}，希望有关部门尽快处理。")
        labels.append(label)
    return texts, labels


def test_train_save_load_evaluate(tmp_path: Path) -> None:
    texts, labels = _synthetic(90, seed=3)
    model = triage.train(texts, labels, name="synthetic")
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = triage.Model.load(path)
    assert loaded.labels == sorted(LABELS) and loaded.version == model.version
    assert loaded.predict("C区搅拌站粉尘污染严重").label == "环境保护"
    assert 0.0 < loaded.predict("幼儿园入学难").confidence <= 1.0
    test_texts, test_labels = _synthetic(30, seed=4)
    report = triage.evaluate(loaded, test_texts, test_labels)
    assert set(report) == {"accuracy", "macro_f1", "per_class", "n"}
    assert report["n"] == 30 and report["macro_f1"] > 0.9
    assert set(report["per_class"]["城乡建设"]) == {"precision", "recall", "f1", "support"}


def test_numpy_prediction_matches_scikit_learn() -> None:
    texts, labels = _synthetic(60, seed=5)
    config = FeatureConfig()
    prep = _prepare(texts, config)
    wv, cv, svm, classes = _fit(prep, labels, config, triage.DEFAULT_C, 1)
    model = triage.train(texts, labels, calibration_folds=0)
    probe, _ = _synthetic(10, seed=6)
    expected = svm.decision_function(_transform(wv, cv, _prepare(probe, config), config))
    got = np.array([model.scores(*_tokens(t)) for t in probe])
    assert classes == model.labels
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_naive_bayes_weighted_mix_is_one_linear_model() -> None:
    """The default classifier mixes the plain SVM with the naive-Bayes-weighted one (NBSVM); both
    are linear, so the model file holds one weight matrix. With a share of 0 it is the plain SVM."""
    from sklearn.svm import LinearSVC

    texts, labels = _synthetic(60, seed=5)
    config = FeatureConfig()
    prep = _prepare(texts, config)
    wv, cv, plain, _ = _fit(prep, labels, config, triage.DEFAULT_C, 1, nb_weight=0.0)
    x = _transform(wv, cv, prep, config)
    probe = x[:10]
    reference = LinearSVC(C=triage.DEFAULT_C, class_weight="balanced", random_state=0).fit(x, labels)
    np.testing.assert_allclose(plain.decision_function(probe), reference.decision_function(probe), rtol=1e-6)
    _, _, mixed, _ = _fit(prep, labels, config, triage.DEFAULT_C, 1)
    assert triage.NB_WEIGHT > 0 and not np.allclose(mixed.coef_, plain.coef_)
    assert list(mixed.predict(probe)) == labels[:10]
    model = triage.train(texts, labels, calibration_folds=0)
    assert model.meta["nb_weight"] == triage.NB_WEIGHT
    assert triage.train(texts, labels, calibration_folds=0, nb_weight=0).meta["nb_weight"] == 0


def _tokens(text: str) -> tuple[list[str], str]:
    from triage import segment

    norm = triage.normalize(text)
    return segment.cut(norm), norm


def test_model_in_triage_sets_category_and_version(tmp_path: Path, jurisdiction: triage.Jurisdiction) -> None:
    texts, labels = _synthetic(60, seed=7)
    model = triage.train(texts, labels, name="synthetic")
    r = triage.triage("星沙街道工厂夜间偷排污水，河道污染严重发臭", jurisdiction=jurisdiction, model=model)
    assert r.category == "环境保护"
    assert r.model.endswith(model.version)


def test_cross_validate_and_scores() -> None:
    texts, labels = _synthetic(60, seed=8)
    result = triage.cross_validate(texts, labels, folds=3)
    assert {"accuracy", "macro_f1", "per_class", "n", "folds"} <= set(result)
    assert result["n"] <= 60  # identical texts are deduplicated before splitting
    assert scores_from(["a", "b", "b"], ["a", "b", "a"])["macro_f1"] == pytest.approx(0.6667, abs=1e-4)


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, meta=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(triage.ModelError, match="不是本版本的分流模型"):
        triage.Model.load(path)


# -- cross-validation without leakage ---------------------------------------------------------

_HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 400)]


def _random_text(rnd: random.Random, n: int = 40) -> str:
    return "".join(rnd.choice(_HAN) for _ in range(n))


def test_near_duplicate_groups_link_edits_and_containment() -> None:
    rnd = random.Random(1)
    a, b = _random_text(rnd), _random_text(rnd)
    title = a[:15]
    texts = [a, a[:-1] + "。", title, b, _random_text(rnd)]
    groups = near_duplicate_groups(texts)
    assert groups[0] == groups[1] == groups[2]  # an edit, and a title inside its full text
    assert len({groups[0], groups[3], groups[4]}) == 3


def test_cv_data_merges_duplicates_and_caller_groups() -> None:
    rnd = random.Random(2)
    a, b, c = (_random_text(rnd) for _ in range(3))
    data = cv_data([a, " " + a, b, c], ["x", "x", "y", "y"], groups=["m1", "", "m1", ""])
    assert data.n_input == 4 and len(data.texts) == 3  # a and " a" are one text
    assert data.groups[0] == data.groups[1] != data.groups[2]  # a and b share message m1


def test_cross_validation_does_not_leak_near_duplicates() -> None:
    """Random texts with random labels, each present twice with a small edit: a split that put
    the two copies on both sides would score near 1.0; grouped folds can only guess."""
    rnd = random.Random(3)
    texts, labels = [], []
    for _ in range(60):
        text, label = _random_text(rnd), rnd.choice("AB")
        texts += [text, text[:-2] + rnd.choice(_HAN) + rnd.choice(_HAN)]
        labels += [label, label]
    result = triage.cross_validate(texts, labels, folds=4)
    assert result["leakage"]["groups"] == 60
    assert result["accuracy"] < 0.75
    from sklearn.model_selection import StratifiedKFold  # the same data, split ungrouped

    leaky = np.zeros(len(texts), dtype=bool)
    for tr, te in StratifiedKFold(4, shuffle=True, random_state=0).split(np.zeros(len(texts)), labels):
        model = triage.train([texts[i] for i in tr], [labels[i] for i in tr], calibration_folds=0)
        leaky[te] = [model.predict(texts[i]).label == labels[i] for i in te]
    assert leaky.mean() > 0.85  # which is what the grouping prevents


# -- the real labeled messages, when they are at hand (never copied into the repository) -------


def test_taidi2020_corpus_and_a_quick_held_out_score() -> None:
    from server.triage_commands import taidi2020_corpus

    taidi = shared_path("data/taidi2020/titles_labeled.csv").parent

    texts, labels, groups = taidi2020_corpus(taidi)
    assert len(texts) == len(labels) == len(groups) > 10_000
    assert set(labels) == {
        "城乡建设",
        "环境保护",
        "交通运输",
        "教育文体",
        "劳动和社会保障",
        "商贸旅游",
        "卫生计生",
    }
    joined = [i for i, t in enumerate(texts) if groups[i] and "。" in t]
    assert len(joined) > 300  # title + detail where a record pairs them
    rnd = random.Random(0)
    order = list(range(len(texts)))
    rnd.shuffle(order)
    train_ids, test_ids = order[:3000], order[3000:3600]
    model = triage.train([texts[i] for i in train_ids], [labels[i] for i in train_ids], calibration_folds=0)
    report = triage.evaluate(model, [texts[i] for i in test_ids], [labels[i] for i in test_ids])
    assert report["macro_f1"] > 0.8


def test_few_and_many_candidates_verify_alike() -> None:
    """A query checks up to a few candidates one by one and more in numpy: both give the same
    similarity and the earliest case at or above the threshold, stored or still pending."""
    rng = np.random.default_rng(19)
    for _ in range(200):
        a, b = rng.integers(0, 256, size=(2, duplicates.NUM_PERM), dtype=np.uint8)
        same = rng.random(duplicates.NUM_PERM) < rng.random()  # from none to all bytes agreeing
        b[same] = a[same]
        expected = float(duplicates.estimate_jaccard(a, b)[0])
        assert duplicates._estimate_jaccard_bytes(a.tobytes(), b.tobytes()) == expected
    base = rng.integers(0, 2**32, size=duplicates.NUM_PERM, dtype=np.uint64).astype(np.uint32)

    def variant(changed: int) -> np.ndarray:
        sig = base.copy()
        sig[rng.choice(duplicates.NUM_PERM, size=changed, replace=False)] ^= 0x5A5A5A5A
        return sig

    for copies in (3, duplicates._FEW_CANDIDATES + 5):
        for merged in (False, True):
            index = triage.DuplicateIndex(merge_every=10**6)
            # Far (about 0.5 similar), then near (about 0.9) copies: candidates all, hits the near.
            sigs = [variant(32) for _ in range(copies)] + [variant(6) for _ in range(copies)]
            for i, sig in enumerate(sigs):
                index.add_signature(f"C{i}", sig.tobytes())
            if merged:
                index._merge()
            assert index.query_signature(base) == f"C{copies}"
            assert index.query_signature(base.tobytes()) == f"C{copies}"
