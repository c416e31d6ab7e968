"""The course's grading harness, shared by every step.

``python -m checks 1`` grades step 1 (``make check STEP=1`` does the same).
The modules, in the order a check uses them:

* ``course``        where the steps, their files, tests and hints live;
* ``starters``      turns a reference solution into its learner starter;
* ``launch``        runs a learner's server in a child process (the checks talk to it from outside);
* ``learner_server`` the test side of that child: start, port handshake, stack dumps, stop;
* ``wire``          raw-socket exchanges and strict parsing of responses with h11;
* ``report``        failure messages written for learners;
* ``plugin``        the pytest plugin: fixtures, per-check output, results.json;
* ``runner``        runs one step's suite and prints the summary;
* ``bootstrap``     creates ``.venv`` and installs what is needed, on first use.
* ``docs_hints``    (an MkDocs hook) renders each step's hints.md into its docs page.

Only ``bootstrap``, ``course``, ``starters`` and ``__main__`` may import at
module level nothing beyond the standard library: they run before ``.venv`` exists.
"""
