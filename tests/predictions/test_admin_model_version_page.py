"""A model version's admin page explains (issue #22): the metrics as tables (held-out
figures beside the baseline and raw rv_60s, the walk-forward folds, the refit, the guardrail
verdict), the model card as HTML, and the raw JSON one link away."""

from __future__ import annotations

import json
import re

import pytest

from predictions.models import ModelVersion

pytestmark = pytest.mark.django_db


def change_page(client, staff_user, version) -> str:
    client.force_login(staff_user)
    response = client.get(f"/admin/predictions/modelversion/{version.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def cells(page: str, row_label: str) -> list[str]:
    """The cells of the first table row whose first cell is `row_label`."""
    row = re.search(rf"<tr><td>{re.escape(row_label)}</td>(.*?)</tr>", page)
    assert row, row_label
    return re.findall(r"<td>(.*?)</td>", row.group(1))


def test_the_held_out_figures_sit_beside_the_baseline_and_raw_rv60(client, staff_user,
                                                                  model_version):
    m = model_version.metrics
    page = change_page(client, staff_user, model_version)
    assert cells(page, "PR-AUC") == [f"{m['ml']['pr_auc']:.4f}",
                                     f"{m['baseline']['pr_auc']:.4f}",
                                     f"{m['rv_60s_pr_auc']:.4f}"]
    assert cells(page, "Brier")[:2] == [f"{m['ml']['brier']:.4f}",
                                        f"{m['baseline']['brier']:.4f}"]


def test_every_walk_forward_fold_has_a_row_and_the_refit_is_apart(client, staff_user,
                                                                  model_version):
    page = change_page(client, staff_user, model_version)
    folds = model_version.metrics["folds"]
    assert len(folds) >= 2
    for k in range(1, len(folds) + 1):
        assert f"<tr><td>{k}</td>" in page
    assert "in-sample, not a measure of quality" in page
    refit = model_version.metrics["refit"]
    assert cells(page, "PR-AUC (in-sample)")[0] == f"{refit['ml']['pr_auc']:.4f}"


def test_the_guardrail_verdict_is_stated(client, staff_user, model_version):
    page = change_page(client, staff_user, model_version)
    assert re.search(r'class="guardrail"><strong class="status-\w+">'
                     r"(ML may serve|the baseline serves \(ML held back\))</strong>", page)
    worse = {**model_version.metrics,
             "ml": {**model_version.metrics["ml"], "pr_auc": 0.01, "brier": 0.9}}
    ModelVersion.objects.filter(pk=model_version.pk).update(metrics=worse)
    page = change_page(client, staff_user, model_version)
    assert "the baseline serves (ML held back)" in page
    assert "ML does not beat the baseline on PR-AUC and Brier" in page


def test_the_page_shows_no_raw_json_and_links_to_it(client, staff_user, model_version):
    page = change_page(client, staff_user, model_version)
    assert '"held_out_walk_forward"' not in page and "&quot;pr_auc&quot;" not in page
    link = re.search(r'<a href="([^"]+)" id="raw-metrics">', page).group(1)
    answer = client.get(link)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    assert json.loads(answer.content) == model_version.metrics


def test_the_raw_json_is_for_staff_only(client, model_version):
    answer = client.get(f"/admin/predictions/modelversion/{model_version.pk}/metrics.json")
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


def test_the_model_card_is_rendered_and_escaped(client, staff_user, model_version):
    ModelVersion.objects.filter(pk=model_version.pk).update(
        model_card="# Model card: x\n\n- **Data**: <script>alert(1)</script>\n\n"
                   "| metric | ML |\n|---|---|\n| PR-AUC | 0.6795 |")
    page = change_page(client, staff_user, model_version)
    card = page[page.index('<div class="model-card">'):]
    assert card.startswith('<div class="model-card"><h1>Model card: x</h1>')
    assert "<li><strong>Data</strong>: &lt;script&gt;alert(1)&lt;/script&gt;</li>" in card
    assert "<td>PR-AUC</td><td>0.6795</td>" in card
    assert "<script>alert(1)" not in page
    assert "<pre" not in card.split("</div>")[0]
