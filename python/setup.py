"""Builds the gdn package with the project's CMake build, for `pip install ./python`.

The wheel is self-contained: gdn/_gdn*.so, gdn/lib/libgdn_core.so*, libgdn_registry.so*, libgdn_testing.so*
(the reference behind gdn.reference_forward and gdn.check) and the backend plugins in
gdn/lib/gdn/plugins (where the registry looks, relative to its own library).
Environment: GDN_CMAKE_ARGS (extra CMake arguments, e.g. -DGDN_BUILD_CUDA=ON), CMAKE_BUILD_PARALLEL_LEVEL.
"""

import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.path.join(ROOT, "build-pip")  # beside the normal build tree, reused
        stage = os.path.join(build_dir, "stage")
        configure = [
            "cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython_EXECUTABLE={sys.executable}",
            "-DGDN_BUILD_TESTS=OFF", "-DGDN_BUILD_BENCH=OFF", "-DGDN_BUILD_PYTHON=ON",
            # The wheel's layout: the package at the stage root, the libraries inside it.
            f"-DCMAKE_INSTALL_PREFIX={stage}", "-DGDN_PYTHON_INSTALL_DIR=.", "-DCMAKE_INSTALL_LIBDIR=gdn/lib",
        ] + shlex.split(os.environ.get("GDN_CMAKE_ARGS", ""))
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", build_dir], check=True)
        shutil.rmtree(stage, ignore_errors=True)
        subprocess.run(["cmake", "--install", build_dir], check=True, stdout=subprocess.DEVNULL)
        target = os.path.join(os.path.abspath(self.build_lib), "gdn")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(os.path.join(stage, "gdn"), target, symlinks=False)
        for sdk_only in ("cmake", "pkgconfig"):  # the C++ SDK's files: not for Python
            shutil.rmtree(os.path.join(target, "lib", sdk_only), ignore_errors=True)


setup(
    packages=["gdn"],
    package_data={"gdn": ["__init__.pyi", "py.typed"]},
    ext_modules=[Extension("gdn._gdn", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
