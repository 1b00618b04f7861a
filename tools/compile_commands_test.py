#!/usr/bin/env python3
"""compile_commands.py against a made-up workspace and execroot: what clangd will be given."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compile_commands.py")


def compile_action(source, obj, extra=(), mnemonic="CppCompile", dep_file=True,
                   compiler="/usr/bin/clang-19"):
    args = [compiler, "-std=c++20", "-iquote", ".", "-iquote", "bazel-out/k8/bin",
            "-isystem", "external/system_absl/include", "-Iexternal/joined"]
    if dep_file:
        args += ["-MD", "-MF", obj[:-2] + ".d"]
    args += list(extra) + ["-c", source, "-o", obj]
    return {"mnemonic": mnemonic, "arguments": args}


class CompileCommandsTest(unittest.TestCase):

    def setUp(self):
        self.fds = len(os.listdir("/proc/self/fd"))
        self.tmp = tempfile.TemporaryDirectory()
        self.workspace = os.path.join(self.tmp.name, "ws")
        self.execroot = os.path.join(self.tmp.name, "out", "execroot", "proj")
        for d in ("pkg", "pkg/sub", "bazel-ignored-dir", ".hidden"):
            os.makedirs(os.path.join(self.workspace, d))
        for f in ("pkg/a.h", "pkg/b.h", "pkg/shared.h", "pkg/lonely.h", "pkg/sub/deep.h",
                  "bazel-ignored-dir/x.h", ".hidden/y.h"):
            open(os.path.join(self.workspace, f), "w").close()
        os.makedirs(os.path.join(self.execroot, "bazel-out/k8/bin/pkg/_pcm"))
        os.symlink(self.execroot, os.path.join(self.workspace, "bazel-ws"))
        # Stands in for clang when the editor BMI is built: writes its argv to the -o file.
        self.fake_cc = os.path.join(self.tmp.name, "fake_cc")
        with open(self.fake_cc, "w") as f:
            f.write('#!/bin/sh\nout=""; for a; do [ "$prev" = -o ] && out=$a; prev=$a; done\n'
                    'echo "$@" > "$out"\n')
        os.chmod(self.fake_cc, 0o755)

    def tearDown(self):
        self.tmp.cleanup()
        self.assertEqual(len(os.listdir("/proc/self/fd")), self.fds, "file descriptors leaked")

    def write_dep(self, obj, *deps):
        path = os.path.join(self.execroot, obj[:-2] + ".d")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(obj + ": \\\n  " + " \\\n  ".join(deps) + "\n")

    def run_script(self, actions):
        output = os.path.join(self.workspace, "compile_commands.json")
        result = subprocess.run(
            [sys.executable, SCRIPT, self.workspace, self.execroot, output],
            input=json.dumps({"actions": actions}), capture_output=True, text=True)
        entries = None
        if result.returncode == 0:
            with open(output) as f:
                entries = {e["file"]: e for e in json.load(f)}
        return result, entries

    def standard_actions(self):
        a_obj = "bazel-out/k8/bin/pkg/_objs/a@epoll/a.o"
        a_poll_obj = "bazel-out/k8/bin/pkg/_objs/a@poll/a.o"
        b_obj = "bazel-out/k8/bin/pkg/_objs/b/b.o"
        pcm = "bazel-out/k8/bin/pkg/_pcm/proj.pkg.pcm"
        open(os.path.join(self.execroot, pcm), "w").close()
        self.write_dep(a_obj, "pkg/a.cc", "pkg/a.h", "pkg/b.h", "pkg/shared.h",
                       "/usr/include/stdio.h", "external/system_absl/include/absl/base.h")
        self.write_dep(a_poll_obj, "pkg/a.cc", "pkg/a.h")
        self.write_dep(b_obj, "pkg/b.cc", "pkg/b.h", "pkg/shared.h")
        module_flag = "-fmodule-file=proj.pkg=" + pcm
        return [
            compile_action("pkg/a.cc", a_obj),
            compile_action("pkg/a.cc", a_poll_obj, extra=["-DPOLL_VARIANT"]),
            compile_action("pkg/b.cc", b_obj, extra=[module_flag]),
            compile_action("pkg/sub/iface.cppm", pcm, mnemonic="CppModulePrecompile", dep_file=False,
                           extra=["-Xclang", "-fmodules-embed-all-files", "-x", "c++-module",
                                  "--precompile"], compiler=self.fake_cc),
            compile_action(pcm, "bazel-out/k8/bin/pkg/_objs/pkg/proj.pkg.o",
                           mnemonic="CppModuleCompile", dep_file=False, extra=[module_flag]),
            compile_action("external/system_absl/src.cc", "bazel-out/k8/bin/external/src.o"),
        ]

    def test_paths_resolve_from_the_workspace_root(self):
        result, entries = self.run_script(self.standard_actions())
        self.assertEqual(result.returncode, 0, result.stderr)
        args = entries["pkg/a.cc"]["arguments"]
        self.assertEqual(entries["pkg/a.cc"]["directory"], self.workspace)
        self.assertIn("bazel-ws/external/system_absl/include", args)
        self.assertIn("-Ibazel-ws/external/joined", args)
        self.assertIn("bazel-out/k8/bin", args)  # bazel-out/ has its own symlink
        self.assertNotIn("external/system_absl/include", args)
        # The rewritten path reaches the execroot's directory from the workspace root.
        os.makedirs(os.path.join(self.execroot, "external/system_absl/include"))
        self.assertTrue(os.path.isdir(
            os.path.join(self.workspace, "bazel-ws/external/system_absl/include")))

    def test_outputs_are_dropped_and_the_source_kept(self):
        _, entries = self.run_script(self.standard_actions())
        args = entries["pkg/a.cc"]["arguments"]
        for flag in ("-o", "-MF", "-MD", "-c"):
            self.assertNotIn(flag, args)
        self.assertFalse([a for a in args if a.endswith((".o", ".d"))], args)
        self.assertEqual(args[-1], "pkg/a.cc")

    def test_one_entry_per_source_the_first_action_wins(self):
        _, entries = self.run_script(self.standard_actions())
        self.assertNotIn("-DPOLL_VARIANT", entries["pkg/a.cc"]["arguments"])
        self.assertEqual(sorted(f for f in entries if not f.endswith(".h")),
                         ["pkg/a.cc", "pkg/b.cc", "pkg/sub/iface.cppm"])

    def test_module_interface_and_importer_keep_their_module_maps(self):
        _, entries = self.run_script(self.standard_actions())
        cppm = entries["pkg/sub/iface.cppm"]["arguments"]
        self.assertIn("c++-module", cppm)
        self.assertNotIn("--precompile", cppm)
        editor_pcm = ".cache/editor_pcm/bazel-out/k8/bin/pkg/_pcm/proj.pkg.pcm"
        self.assertIn("-fmodule-file=proj.pkg=" + editor_pcm, entries["pkg/b.cc"]["arguments"])
        # The editor BMI was built from the precompile command, without embedding.
        with open(os.path.join(self.workspace, editor_pcm)) as f:
            built_with = f.read().split()
        self.assertIn("--precompile", built_with)
        self.assertNotIn("-fmodules-embed-all-files", built_with)
        self.assertFalse([f for f in entries if f.endswith(".pcm")])

    def test_a_missing_pcm_is_an_error_that_names_it(self):
        actions = self.standard_actions()
        os.remove(os.path.join(self.execroot, "bazel-out/k8/bin/pkg/_pcm/proj.pkg.pcm"))
        result, _ = self.run_script(actions)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("proj.pkg.pcm", result.stderr)

    def test_every_tree_header_gets_an_includers_flags_as_a_header(self):
        result, entries = self.run_script(self.standard_actions())
        headers = sorted(f for f in entries if f.endswith(".h"))
        self.assertEqual(headers, ["pkg/a.h", "pkg/b.h", "pkg/lonely.h", "pkg/shared.h",
                                   "pkg/sub/deep.h"])
        b_h = entries["pkg/b.h"]["arguments"]
        self.assertEqual(b_h[-3:], ["-x", "c++-header", "pkg/b.h"])
        # a.cc includes b.h too, but b.h borrows its own b.cc's command (module map and all).
        self.assertTrue([a for a in b_h if a.startswith("-fmodule-file=proj.pkg=")])
        self.assertNotIn("pkg/b.cc", b_h)
        # shared.h: both include it; a.cc comes first in the same directory.
        self.assertFalse([a for a in entries["pkg/shared.h"]["arguments"] if "module-file" in a])
        # No includer: a source of the nearest directory up (sub/ has only the .cppm, whose
        # command would make the header a module interface).
        for lonely in ("pkg/lonely.h", "pkg/sub/deep.h"):
            self.assertNotIn("c++-module", entries[lonely]["arguments"])
            self.assertEqual(entries[lonely]["arguments"][-1], lonely)
        self.assertIn("5 headers", result.stdout)

    def test_without_a_convenience_symlink_external_paths_are_absolute(self):
        os.remove(os.path.join(self.workspace, "bazel-ws"))
        _, entries = self.run_script(self.standard_actions())
        self.assertIn(os.path.join(self.execroot, "external/system_absl/include"),
                      entries["pkg/a.cc"]["arguments"])


if __name__ == "__main__":
    unittest.main()
