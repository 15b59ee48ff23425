"""Build of ncodec's C++ extensions (the interleaved rANS CPU coder and the integer synthesis's fused
element-wise passes); everything else is in pyproject.toml.

pybind11 comes from the build requirements; torch is not needed to build.
"""

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

setup(
    ext_modules=[
        Pybind11Extension(
            "ncodec.entropy._rans",
            ["entropy/csrc/rans_interleaved.cpp"],
            cxx_std=17,
            extra_compile_args=["-O3", "-pthread"],
            extra_link_args=["-pthread"],
        ),
        # -ffp-contract=off: no fused multiply-add, so every float step rounds as the reference does
        Pybind11Extension(
            "ncodec.models._intsynth",
            ["models/csrc/intsynth_kernels.cpp"],
            cxx_std=17,
            extra_compile_args=["-O3", "-pthread", "-ffp-contract=off", "-fno-math-errno"],
            extra_link_args=["-pthread"],
            optional=True,  # without it the integer synthesis runs its reference / numpy passes
        ),
    ]
)
