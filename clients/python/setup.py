"""Generates the protobuf code (waiaas_client/_gen, git-ignored) before packaging when it is missing, so that
`pip install clients/python` works from a fresh checkout. Everything else is in pyproject.toml."""
import os
import subprocess

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.exists(os.path.join(HERE, "generate.sh")) and os.path.isdir(os.path.join(HERE, "..", "..", "proto")):
    subprocess.check_call(["bash", os.path.join(HERE, "generate.sh")])
elif not os.path.exists(os.path.join(HERE, "waiaas_client", "_gen", "__init__.py")):
    raise SystemExit("waiaas_client/_gen is missing: run clients/python/generate.sh in the repository first")

setup()
