import pytest

from seqrec.train import train


@pytest.mark.parametrize("model", ["ctc", "multihead", "multilabel"])
def test_fast_dev_run_each_model(make_cfg, model):
    metrics = train(make_cfg(f"model={model}", "debug=fdr"))
    assert "test/exact_match" in metrics
    assert 0.0 <= metrics["test/exact_match"] <= 1.0
    assert metrics["test/loss"] > 0
