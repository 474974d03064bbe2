"""`mlops-nb stage update`: a project's copies of the built-in stage notebooks follow a newer mlops_nb unless edited."""
import json, shutil
from pathlib import Path

import pandas as pd
import pytest

from mlops_nb import scaffold
from mlops_nb.cli import main
from mlops_nb.project import STAGES, add_stage, packaged_notebooks
from mlops_nb.scaffold import TEMPLATE_RECORD, init_project


@pytest.fixture
def project(tmp_path):
    "A fresh init'ed project on a tiny CSV (no git), as tests/test_kernels.py makes one."
    data, n = tmp_path / "d.csv", 200
    pd.DataFrame({"age": range(n), "plan": ["a", "b"] * (n // 2), "y": ["yes", "no", "no", "yes"] * (n // 4)}).to_csv(data, index=False)
    init_project(tmp_path / "p", data, "y", git=False)
    return tmp_path / "p"


def newer_templates(tmp_path, monkeypatch, stages=("evaluate", "gate")) -> Path:
    "The installed templates with one more line in the last code cell of `stages`, as a newer mlops_nb would ship them."
    newer = tmp_path / "templates"
    shutil.copytree(packaged_notebooks(), newer)
    for s in stages:
        nb = json.loads((newer / f"{s}.ipynb").read_text())
        last = [c for c in nb["cells"] if c["cell_type"] == "code"][-1]
        last["source"] = "".join(last["source"]) + "\n# new in the template"
        (newer / f"{s}.ipynb").write_text(json.dumps(nb, indent=1))
    monkeypatch.setattr(scaffold, "packaged_notebooks", lambda: newer)
    return newer


def edit_cell(path: Path, i: int, source: str) -> None:
    nb = json.loads(path.read_text())
    nb["cells"][i]["source"] = source
    path.write_text(json.dumps(nb, indent=1))


def test_update_replaces_unedited_keeps_edited_and_force_replaces(project, tmp_path, monkeypatch, capsys):
    pipe = project / "nbs/pipeline"
    add_stage(project, "summary", after="evaluate")  # a user stage: its starter notebook is never touched
    summary = (pipe / "summary.ipynb").read_bytes()
    edit_cell(pipe / "gate.ipynb", 2, "# my own gate code")
    newer = newer_templates(tmp_path, monkeypatch)
    assert main(["stage", "update", "--root", str(project)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "evaluate: updated" in out and "prepare: unchanged" in out and "gate: kept (edited) -> nbs/pipeline/gate.new.ipynb" in out
    assert len([l for l in out if not l.startswith(" ")]) == len(STAGES) + 1  # one line per built-in stage, then the dvc repro hint
    assert not any(l.startswith("summary") for l in out) and (pipe / "summary.ipynb").read_bytes() == summary
    assert (pipe / "evaluate.ipynb").read_bytes() == (newer / "evaluate.ipynb").read_bytes()
    assert (pipe / "gate.new.ipynb").read_bytes() == (newer / "gate.ipynb").read_bytes()
    assert json.loads((pipe / "gate.ipynb").read_text())["cells"][2]["source"] == "# my own gate code"  # the user's edit stays
    diffs = "\n".join(l for l in out if l.startswith("  "))
    assert "your cell 3 ('# my own gate code') differs from the new cell 3" in diffs and "merge: carry your changes into nbs/pipeline/gate.new.ipynb" in diffs
    # run again: nothing left to update, the edited one is still kept
    assert main(["stage", "update", "gate", "evaluate", "--root", str(project)]) == 0
    again = capsys.readouterr().out.splitlines()
    assert again[0] == "gate: kept (edited) -> nbs/pipeline/gate.new.ipynb" and "evaluate: unchanged" in again
    # the user merges in gate.new.ipynb: another update leaves that merge alone
    edit_cell(pipe / "gate.new.ipynb", 2, "# my merge in progress")
    assert main(["stage", "update", "gate", "--root", str(project)]) == 0
    assert "gate.new.ipynb has changes of yours (a merge in progress?): left as it is" in capsys.readouterr().out
    assert json.loads((pipe / "gate.new.ipynb").read_text())["cells"][2]["source"] == "# my merge in progress"
    # given up: the file is the template again; --force takes the template and removes the stale copy beside it
    (pipe / "gate.new.ipynb").write_bytes((newer / "gate.ipynb").read_bytes())
    assert main(["stage", "update", "gate", "--force", "--root", str(project)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == ("gate: replaced (--force: your edits dropped) (nbs/pipeline/gate.new.ipynb, "
                                                       "the template written beside it earlier, removed)")
    assert not (pipe / "gate.new.ipynb").exists()
    assert (pipe / "gate.ipynb").read_bytes() == (newer / "gate.ipynb").read_bytes()
    assert main(["stage", "update", "--root", str(project)]) == 0
    assert all(l.endswith(": unchanged") for l in capsys.readouterr().out.splitlines())


def test_bad_names_and_a_project_made_before_the_record(project, tmp_path, monkeypatch, capsys):
    add_stage(project, "summary", after="evaluate")
    assert main(["stage", "update", "gates", "--root", str(project)]) == 2
    assert "no built-in stage 'gates'. Did you mean 'gate'?" in capsys.readouterr().err
    assert main(["stage", "update", "summary", "--root", str(project)]) == 2
    assert "stage 'summary' is your own (added with `mlops-nb stage add`)" in capsys.readouterr().err
    assert main(["stage", "update", "--root", str(tmp_path)]) == 2  # not a project
    assert "no dvc.yaml; is" in capsys.readouterr().err
    # no record (a project made by an older mlops_nb): a copy whose code cells are today's template counts as unedited
    pipe = project / "nbs/pipeline"
    (pipe / TEMPLATE_RECORD).unlink()
    edit_cell(pipe / "prepare.ipynb", 0, "# Stage: prepare (an older wording)")  # a markdown cell only
    code = [c for c in json.loads((pipe / "explain.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    edit_cell(pipe / "explain.ipynb", json.loads((pipe / "explain.ipynb").read_text())["cells"].index(code[-1]), "# older code")
    rows = {r["stage"]: r["status"] for r in scaffold.update_stage_notebooks(project)}
    assert rows == {**{s: "unchanged" for s in STAGES}, "prepare": "updated", "explain": "kept"}
    assert (pipe / "prepare.ipynb").read_bytes() == (packaged_notebooks() / "prepare.ipynb").read_bytes()
    assert (pipe / "explain.new.ipynb").exists() and json.loads((pipe / TEMPLATE_RECORD).read_text())["stages"].keys() >= {"prepare", "gate"}
