"""Loads step 1's reference solution, so each broken server below differs from it in one way."""

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[2] / "steps" / "1-socket" / "solution" / "server.py"
_spec = importlib.util.spec_from_file_location("step1_solution", _path)
solution = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(solution)
