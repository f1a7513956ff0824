#!/usr/bin/python3
"""A causal Transformer language-model epoch on the fortunes corpus
(`transformer:d=64,heads=4,layers=2,seq=64`, batch 32, Adam): clgrad's CPU
backend against Debian's PyTorch and PyPI's (TORCH_PYTHON), the reference
recipe of bench/recipes/recipes.py.

    bench/layers/transformer_speed.py [--clgrad build/tools/clgrad] [--repeat 3] [--threads 1,2] [--samples BYTES]

--samples BYTES cuts the corpus (default: all 2.6 MB)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.speed_main("transformer", __doc__)
