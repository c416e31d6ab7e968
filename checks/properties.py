"""Property-based checks: the same cases, in the same order, for every learner.

A property says what must hold for every input ("split anywhere, same answer").
Hypothesis generates the inputs; when one fails, it shrinks it to the smallest
failing input, and the check's ``CheckFailed`` for that input is what the
learner reads (sent, expected, received), as for any other check.

``course_settings()`` is the one place the properties are configured:

* ``derandomize=True`` and no example database: every run of every learner
  tries the same inputs, which a grader needs (and nothing is written to disk);
* no deadline: a server on a shared machine may be slow, and slowness is not
  what these checks grade;
* the health check about function-scoped fixtures is off, on purpose: one
  server (the ``server`` fixture) answers every example of a check.
"""

from hypothesis import HealthCheck, Phase, Verbosity, settings

# How many inputs a property tries when the check does not say. Parser
# properties are cheap (microseconds an input); properties that open a
# connection per input pass a smaller number.
DEFAULT_EXAMPLES = 200


def course_settings(max_examples=DEFAULT_EXAMPLES, shrink=True):
    """Hypothesis settings for a graded property.

    ``shrink=False`` reports the first failing input as found: for a property
    whose every failing try waits on a socket, shrinking would take minutes.
    """
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=phases,
        print_blob=False,
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
