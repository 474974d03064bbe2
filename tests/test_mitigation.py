"""`mlops-nb mitigate`: a model failing the fairness gate is retrained with fairlearn's ThresholdOptimizer
and goes through the same gates; the accuracy/fairness trade-off is reported side by side."""
import json

import yaml

import pytest

from conftest import copy_built, make_project, run, synthetic
from test_gates import alias_version

pytestmark = pytest.mark.slow


def test_mitigate_fixes_demographic_parity_and_passes_the_gates(unfair_built, tmp_path):
    built, first = unfair_built
    assert first.returncode != 0  # the parity gate fails first
    root = copy_built(built, tmp_path)
    p = yaml.safe_load((root / "params.yaml").read_text())  # gate on parity only: a hard classifier's AUC is lower
    p["gates"]["performance"]["floors"] = {"roc_auc": 0.5}
    p["gates"]["fairness"].update(equalized_odds_difference=None, selection_rate_ratio=None)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    out = run(["mlops-nb", "mitigate", "--feature", "group", "--constraint", "demographic_parity",
               "--min-group-size", "30"], root)
    assert "mitigated model trained and gated" in out.stdout
    p = yaml.safe_load((root / "params.yaml").read_text())
    assert p["train"]["mitigation"]["constraint"] == "demographic_parity"
    trade = json.loads((root / "reports/fairness/mitigation.json").read_text())
    before, after = trade["rows"]
    key = "demographic_parity_difference[group]"
    assert before[key] > 0.3 and after[key] < 0.1 and after["accuracy"] < before["accuracy"]  # parity costs accuracy
    gates = json.loads((root / "reports/gates.json").read_text())
    assert gates["verdict"] == "pass"
    assert alias_version(root, "challenger") is not None
    html = (root / "reports/html/fairness.html").read_text()
    assert "after mitigation" in html


def test_mitigate_refuses_a_feature_that_is_not_sensitive(fair_built, tmp_path):
    root = copy_built(fair_built, tmp_path)
    r = run(["mlops-nb", "mitigate", "--feature", "x1", "--no-run"], root, check=False)
    assert r.returncode == 2 and "not in data.sensitive" in r.stderr
