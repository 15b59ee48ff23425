"""Build of ncodec's C++ extension (the interleaved rANS CPU coder); everything else is in pyproject.toml.

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
        )
    ]
)
