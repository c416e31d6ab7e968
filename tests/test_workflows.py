"""The GitHub workflows and the dev container agree with the course as it is."""

import json

import yaml

from checks.course import ROOT, everything

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name):
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def test_classroom_grades_every_step_and_reports_each():
    steps = load("classroom.yml")["jobs"]["autograding"]["steps"]
    graders = {step["id"]: step for step in steps if step.get("uses", "").startswith("classroom-resources/autograding-command-grader")}
    expected = {step.key if step.is_extension else f"step-{step.number}": step for step in everything()}
    assert sorted(graders) == sorted(expected)
    for grader, step in expected.items():
        command = graders[grader]["with"]["command"]
        assert command == f"python -m checks check {step.key} --results results/{step.name}.json"
    [reporter] = [step for step in steps if step.get("uses", "").startswith("classroom-resources/autograding-grading-reporter")]
    assert sorted(reporter["with"]["runners"].split(",")) == sorted(graders)
    assert set(reporter["env"]) == {f"{runner.upper()}_RESULTS" for runner in graders}


def test_ci_runs_the_tests_on_three_systems_and_three_pythons():
    job = load("ci.yml")["jobs"]["test"]
    assert job["strategy"]["matrix"]["os"] == ["ubuntu-latest", "macos-latest", "windows-latest"]
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    commands = [step.get("run") for step in job["steps"]]
    assert "make test PYTHON=python" in commands and "python -m checks selftest" in commands


def test_the_dev_container_sets_itself_up():
    container = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text(encoding="utf-8"))
    assert container["postCreateCommand"] == "python -m checks setup"
    assert 8080 in container["forwardPorts"]
