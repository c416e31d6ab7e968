"""How a report picks the TODO to blame and the order to show failures in (checks/attribution.py)."""

from checks import attribution
from checks.course import find_step
from checks.report import CheckFailed

STEP1 = find_step("1")


def failure(todo, needs=(), name=None):
    return {"todo": todo, "needs": list(needs), "name": name or f"check of TODO {todo}"}


def shown(arranged):
    return [(entry["name"], cause) for entry, cause in arranged]


def test_a_failure_that_needs_a_failing_todo_follows_it():
    site = failure(5, needs=(1, 3), name="site")
    cors = failure(3, name="cors unit")
    assert shown(attribution.arrange([site, cors])) == [("cors unit", None), ("site", 1)]


def test_independent_failures_lead_in_todo_order_and_a_todo_that_leads_keeps_all_its_failures():
    wire = failure(5, needs=(1, 2, 3, 4), name="json over the wire")
    unit = failure(5, name="to_response")
    other = failure(2, name="decorator")
    # The wire check needs TODO 2, which leads: it follows. Both TODO 5 failures with no failing need lead.
    assert shown(attribution.arrange([unit, wire, other])) == [
        ("decorator", None), ("to_response", None), ("json over the wire", 1)]
    # Without a failing need, the wire check leads too, in the order the checks ran.
    assert shown(attribution.arrange([wire, unit])) == [("json over the wire", None), ("to_response", None)]


def test_a_failure_blamed_on_a_todo_it_does_not_need_leads_with_that_todo():
    """A check of TODO 6 that needs TODO 5 but stops in TODO 7's code (not written yet) is TODO 7's, not TODO 5's."""
    parse = failure(5, name="parse")
    render = {**failure(7, needs=(5,), name="if renders"), "task_id": 6}
    inherit = {**failure(7, needs=(5, 6), name="extends"), "task_id": 7}
    assert shown(attribution.arrange([parse, render, inherit])) == [
        ("parse", None), ("if renders", None), ("extends", 1)]


def test_failures_that_only_need_each_other_let_the_earliest_todo_lead():
    a = failure(6, needs=(4,), name="read_request")
    b = failure(4, needs=(6,), name="414 over the wire")
    assert shown(attribution.arrange([a, b])) == [("414 over the wire", None), ("read_request", 1)]


def test_a_mistake_belongs_to_the_todo_whose_code_it_edits():
    text = (STEP1.solution_dir / "server.py").read_text(encoding="utf-8")
    assert attribution.todos_touched(text, "chunk = client.recv(RECV_SIZE)") == {4}
    assert attribution.todos_touched(text, "MAX_HEAD_BYTES = ") == {None}  # given code, not a TODO's
    assert attribution.todos_touched(text, "text that is nowhere") == set()


def test_a_traceback_in_a_todos_function_blames_that_todo(tmp_path):
    learner = tmp_path / "server.py"
    learner.write_text((STEP1.solution_dir / "server.py").read_text(encoding="utf-8"), encoding="utf-8")
    lines = learner.read_text(encoding="utf-8").splitlines()
    in_build = next(number for number, line in enumerate(lines, 1) if "def build_response" in line) + 2
    in_handle = next(number for number, line in enumerate(lines, 1) if "def handle_client" in line) + 2
    todo_map = attribution.TodoMap.of(STEP1)
    raised = f'Traceback (most recent call last):\n  File "{learner}", line {in_handle}, in handle_client\n' \
             f'  File "{learner}", line {in_build}, in build_response\nValueError: bad\n'
    assert attribution.blame(CheckFailed("x", server_output=raised), 2, todo_map, tmp_path) == 5
    # A connection's own error, raised deep down and never caught: the outermost TODO is to blame.
    timed_out = raised.replace("ValueError: bad", "TimeoutError: timed out")
    assert attribution.blame(CheckFailed("x", server_output=timed_out), 2, todo_map, tmp_path) == 3
    # What a check says outright wins; with nothing to go on, the check's own TODO.
    assert attribution.blame(CheckFailed("x", server_output=raised, todo=1), 2, todo_map, tmp_path) == 1
    assert attribution.blame(CheckFailed("x"), 2, todo_map, tmp_path) == 2


def test_a_syntax_error_blames_the_todo_whose_function_holds_it(tmp_path):
    """A file that does not parse is read by its indentation: the error sits under the def being written."""
    from checks.unit import syntax_place

    step = find_step("rate-limit")
    text = (step.solution_dir / "ratelimit.py").read_text(encoding="utf-8")
    todo_map = attribution.TodoMap.of(step)
    learner = tmp_path / "ratelimit.py"
    for code, broken, todo in [
        ("return min(float(self.policy.capacity),", "return min(float(self.policy.capacity)),", 1),
        ('response.headers["RateLimit"] = f\'"{policy.name}";r=', 'response.headers["RateLimit"] = (f\'"{policy.name}";r=', 7),
        ("self.buckets.move_to_end(key)", "self.buckets.move_to_end(key", 4),
    ]:
        learner.write_text(text.replace(code, broken, 1), encoding="utf-8")
        try:
            compile(learner.read_text(encoding="utf-8"), str(learner), "exec")
        except SyntaxError as error:
            failure = CheckFailed("Your ratelimit.py could not be imported.", raised_at=syntax_place(error))
        else:
            raise AssertionError(f"{broken!r} still compiles")
        assert attribution.blame(failure, 2, todo_map, tmp_path) == todo, (broken, failure.raised_at)
