# -*- Python -*-
# lit configuration for Ingot: the lang, Dialect, examples and e2e suites.
import os
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "Ingot"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".ingot", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ingot_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "Inputs",
                   "unittests", "fuzz"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%ingot_src", config.ingot_src_root))
config.substitutions.append(("%clangxx", os.path.join(config.llvm_tools_dir, "clang++")))
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.ingot_tools_dir, append_path=True)

tool_dirs = [config.ingot_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["ingotc", "ingot-opt"], tool_dirs)

# The end-to-end suite (test/e2e) runs its helpers with Debian's python3, which has torch.
# (Before lit's own %python, which would match its prefix.)
config.substitutions.insert(0, ("%python3", "/usr/bin/python3"))
if os.path.exists("/usr/bin/python3") and subprocess.run(
        ["/usr/bin/python3", "-c", "import torch"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL).returncode == 0:
    config.available_features.add("torch")

if (config.ingot_nvcc and os.path.exists(config.ingot_nvcc) and
        config.ingot_cuda_host_compiler and os.path.exists(config.ingot_cuda_host_compiler)):
    config.available_features.add("nvcc")
    # nvcc 13 does not accept clang 22: it compiles host code with the g++ CMake found.
    config.substitutions.append(("%nvcc", config.ingot_nvcc + " -ccbin " +
                                 config.ingot_cuda_host_compiler))
