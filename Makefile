# Build Your Own HTTP Server: every target is a thin wrapper around `python -m checks`,
# which also works without make (Windows: `py -m checks 1`).
# The first target that needs packages creates .venv and installs them itself.

# The first Python 3.11+ on the PATH: python3 when it is new enough, else a newer one by name.
# (None found: python3, whose own check then says which version is needed.)
PYTHON ?= $(firstword $(foreach candidate,python3 python3.14 python3.13 python3.12 python3.11,\
    $(shell $(candidate) -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $(candidate))) python3)
STEP ?= 1
PORT ?= 8080
export COURSE_VIA_MAKE = 1

.DEFAULT_GOAL := help
# make bench and make attack measure the finished server (step 5) unless STEP is given.
LAB_STEP = $(if $(filter file,$(origin STEP)),5,$(STEP))
LAB_IMPL = $(if $(filter solution,$(IMPL)),--solution,$(if $(IMPL),--file "$(IMPL)"))
# make bench KEEPALIVE=1: many requests on each connection instead of one.
BENCH_OPTIONS = $(if $(KEEPALIVE),--keep-alive)
# make mutants runs every step unless STEP is given; TODO=, LIMIT= and JOBS= narrow it down.
MUTANTS_STEP = $(if $(filter file,$(origin STEP)),all,$(STEP))
MUTANTS_OPTIONS = $(if $(TODO),--todo $(TODO)) $(if $(LIMIT),--limit $(LIMIT)) $(if $(JOBS),--jobs $(JOBS))

.PHONY: help check test progress hint reset skip restore serve replay watch notebook report bench attack docs notebooks starters setup mutants

help: ## list the targets
	@echo "Build Your Own HTTP Server — make targets (STEP=1..5, or an extension's name: STEP=keep-alive):"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  make \1\t/' | expand -t 22

check: ## grade your step: make check STEP=1
	@$(PYTHON) -m checks check $(STEP)

test: ## (maintainers) the course's own tests: grading contract, notebooks, docs
	@$(PYTHON) -m checks selftest

progress: ## a table of passing checks for every step
	@$(PYTHON) -m checks progress

hint: ## the next hint for a step (ALL=1 for all of them, LEVEL=n for one)
	@$(PYTHON) -m checks hint $(STEP) $(if $(ALL),--all) $(if $(LEVEL),--level $(LEVEL))

reset: ## back up your file, then restore the step's pristine starter
	@$(PYTHON) -m checks reset $(STEP)

skip: ## back up your file, then drop in the reference solution
	@$(PYTHON) -m checks skip $(STEP)

restore: ## bring back your newest backup (undoes reset or skip; run again to undo that)
	@$(PYTHON) -m checks restore $(STEP)

serve: ## run your server on 127.0.0.1:8080 (PORT=9000 to change)
	@$(PYTHON) -m checks serve $(STEP) --port $(PORT)

replay: ## run one check again, showing every byte: make replay STEP=2 CHECK=3 (a number from the report)
	@$(PYTHON) -m checks replay $(STEP) "$(CHECK)"

watch: ## grade again every time you save
	@$(PYTHON) -m checks watch $(STEP)

notebook: ## play in a step's notebook in Jupyter (STEP=lab for make bench and make attack's)
	@$(PYTHON) -m checks notebook $(STEP)

report: ## (instructors) one table from a folder of results: make report DIR=path
	$(if $(DIR),,$(error Say which folder: make report DIR=path/to/results))
	@$(PYTHON) -m checks report "$(DIR)"

bench: ## your server's speed next to Python's own (IMPL=solution for the reference, KEEPALIVE=1)
	@$(PYTHON) -m checks bench $(LAB_STEP) $(LAB_IMPL) $(BENCH_OPTIONS)

attack: ## hostile clients against your server, each probe judged (IMPL=solution too)
	@$(PYTHON) -m checks attack $(LAB_STEP) $(LAB_IMPL)

docs: ## serve the course site on http://127.0.0.1:8000
	@$(PYTHON) -m checks docs

setup: ## create .venv and install what grading needs (check does this by itself)
	@$(PYTHON) -m checks setup

notebooks: ## (maintainers) run every notebook again and store its outputs
	@$(PYTHON) -m checks notebooks

starters: ## (maintainers) regenerate every starter from its solution
	@$(PYTHON) -m checks starters

mutants: ## (maintainers) mutate a solution, list what its checks miss (STEP=all, the default, for every step)
	@$(PYTHON) -m checks mutants $(MUTANTS_STEP) $(MUTANTS_OPTIONS)
