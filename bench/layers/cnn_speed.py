#!/usr/bin/python3
"""A CNN epoch on Fashion-MNIST (batch 128): clgrad's CPU backend against
Debian's PyTorch and PyPI's (TORCH_PYTHON), on the reference recipe's model
`cnn:32,64,fc=128,bn=1` with Adam (bench/recipes/recipes.py).

    bench/layers/cnn_speed.py [--clgrad build/tools/clgrad] [--repeat 3] [--threads 1,2] [--samples N]

--samples N times the first N train images instead of all 60000."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.speed_main("cnn", __doc__)
