#!/usr/bin/env python3
"""Writes compile_commands.json from `bazel aquery --output=jsonproto` (read on stdin).

Run through tools/compile_commands.sh, which builds first (so every .pcm and .d file exists)
and passes the workspace root and execution root. The flags are the toolchain's own, taken
verbatim from the actions: nothing here knows which compiler or options the build uses.

What it does to Bazel's command lines, and why:
- "directory" is the workspace root, so clangd sees sources and the headers they include
  (-iquote .) at the paths the editor opens, not at execroot symlinks to them.
- Execroot-relative paths under external/ are rewritten through the bazel-<name> convenience
  symlink (which points at the execroot); bazel-out/ resolves through the bazel-out symlink.
  Without such a symlink (--symlink_prefix=/) they become absolute execroot paths.
- One entry per source file: a test expanded per poller compiles the same file with the same
  flags, and the first action seen stands for all.
- CppModuleCompile actions (a .pcm compiled to an object) are skipped: their input is the BMI,
  not a file anyone edits. The .cppm itself gets its CppModulePrecompile command.
- Headers get the command of a translation unit that includes them (from the build's .d
  files), with `-x c++-header` and the header as the input, so every header is checked with
  the include paths, defines and -fmodule-file= maps it is really compiled with.
- -fmodule-file= points at editor copies of the module BMIs in .cache/editor_pcm/, made from
  each CppModulePrecompile command without -fmodules-embed-all-files. Bazel's .pcm embeds the
  headers it read (so a cached .pcm never names another output base); clangd then rejects an
  importer that #includes a standard header before its `import` ("file '.../type_traits' from
  the precompiled header has been overridden": its preamble and the BMI hold the same file).
  The copies are rebuilt when Bazel's .pcm is newer.
"""

import json
import os
import subprocess
import sys

SOURCE_SUFFIXES = (".cc", ".cpp", ".cppm")
HEADER_SUFFIXES = (".h", ".hpp")
# Output-only flags: the editor produces no objects or dependency files.
DROP_WITH_VALUE = {"-o", "-MF", "-MT", "-MQ"}
DROP_ALONE = {"-MD", "-MMD", "-c", "--precompile"}


def convenience_link(workspace, execroot):
    """The bazel-<name> symlink in the workspace that points at the execroot, if any."""
    real = os.path.realpath(execroot)
    for name in sorted(os.listdir(workspace)):
        path = os.path.join(workspace, name)
        if name.startswith("bazel-") and os.path.islink(path) and os.path.realpath(path) == real:
            return name
    return None


def rewrite_path(value, execroot_path):
    """An execroot-relative path made valid from the workspace root."""
    if value == "external" or value.startswith("external/"):
        return os.path.join(execroot_path, value)
    return value


def rewrite_argument(arg, execroot_path):
    # Joined forms: -Iexternal/x, -isystemexternal/x, -fmodule-file=name=external/x.pcm.
    for prefix in ("-I", "-iquote", "-isystem", "-idirafter"):
        if arg.startswith(prefix) and len(arg) > len(prefix):
            return prefix + rewrite_path(arg[len(prefix):], execroot_path)
    if arg.startswith("-fmodule-file="):
        mapping = arg[len("-fmodule-file="):]
        name, sep, path = mapping.rpartition("=")
        return "-fmodule-file=" + name + sep + rewrite_path(path, execroot_path)
    return rewrite_path(arg, execroot_path)


def source_of(arguments):
    """The one input the compiler is given after -c (Bazel always spells it so)."""
    if "-c" not in arguments:
        return None
    index = arguments.index("-c")
    return arguments[index + 1] if index + 1 < len(arguments) else None


def dependency_file(arguments):
    if "-MF" in arguments:
        index = arguments.index("-MF")
        if index + 1 < len(arguments):
            return arguments[index + 1]
    return None


def read_dependencies(path):
    """Workspace-relative files a .d file lists (system and external headers left out)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    _, _, deps = text.replace("\\\n", " ").partition(":")
    return [d for d in deps.split() if not os.path.isabs(d) and not d.startswith(("external/", "bazel-out/"))]


EDITOR_PCM_DIR = os.path.join(".cache", "editor_pcm")
EMBED_FLAG = "-fmodules-embed-all-files"


def rewrite_module_file(arg, pcm_map):
    """-fmodule-file=name=<Bazel's .pcm> -> the editor copy, when there is one."""
    name, sep, path = arg[len("-fmodule-file="):].rpartition("=")
    return "-fmodule-file=" + name + sep + pcm_map.get(path, path)


def without_embedding(arguments):
    out = []
    for arg in arguments:
        if arg == EMBED_FLAG and out and out[-1] == "-Xclang":
            out.pop()
            continue
        out.append(arg)
    return out


def output_of(arguments):
    index = arguments.index("-o")
    return arguments[index + 1]


def build_editor_modules(precompiles, workspace, execroot, execroot_path):
    """Builds the editor BMIs (see the module docstring), dependencies first. Returns
    {Bazel's .pcm path: the editor copy's path}, both relative to the workspace root."""
    pcm_map = {output_of(a): os.path.join(EDITOR_PCM_DIR, output_of(a)) for a in precompiles}
    pending = list(precompiles)
    while pending:
        waiting_for = {output_of(a) for a in pending}
        ready = [a for a in pending if not set(module_files(a)) & waiting_for]
        if not ready:
            sys.exit("compile_commands: module dependency cycle among " +
                     " ".join(output_of(a) for a in pending))
        for arguments in ready:
            pending.remove(arguments)
            bazel_pcm = output_of(arguments)
            editor_pcm = pcm_map[bazel_pcm]
            target = os.path.join(workspace, editor_pcm)
            source = os.path.join(execroot, bazel_pcm)
            if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(source):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            argv = []
            for arg in without_embedding(arguments):
                if arg.startswith("-fmodule-file="):
                    arg = rewrite_module_file(arg, pcm_map)
                if arg == bazel_pcm:
                    arg = editor_pcm
                argv.append(rewrite_argument(arg, execroot_path))
            print("compile_commands: editor BMI " + editor_pcm, flush=True)
            if subprocess.run(argv, cwd=workspace).returncode != 0:
                sys.exit("compile_commands: building the editor BMI failed: " + editor_pcm)
    return pcm_map


def editor_arguments(arguments, source, execroot_path, pcm_map, as_header=None):
    """The action's argv for the editor: outputs dropped, paths rewritten, and for a header
    its own path in place of the source, parsed as a header."""
    out = []
    skip = False
    for arg in arguments:
        if skip:
            skip = False
            continue
        if arg in DROP_WITH_VALUE:
            skip = True
            continue
        if arg in DROP_ALONE:
            continue
        if arg == source:
            if as_header:
                out += ["-x", "c++-header", as_header]
            else:
                out.append(arg)
            continue
        if arg.startswith("-fmodule-file="):
            arg = rewrite_module_file(arg, pcm_map)
        out.append(rewrite_argument(arg, execroot_path))
    return out


def module_files(arguments):
    for arg in arguments:
        if arg.startswith("-fmodule-file="):
            yield arg.rpartition("=")[2]


def tree_headers(workspace):
    """Every header in the source tree (not in bazel-* symlinks or hidden directories)."""
    for root, dirs, files in os.walk(workspace):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "bazel-")))
        for f in sorted(files):
            if f.endswith(HEADER_SUFFIXES):
                yield os.path.relpath(os.path.join(root, f), workspace)


def pick_includer(header, includers, sources):
    """The translation unit whose flags a header borrows: its own .cc if that includes it,
    else an includer in the same directory, else any includer, else (a header no TU
    includes) a source in the nearest directory up the tree."""
    stem = os.path.splitext(header)[0]
    directory = os.path.dirname(header)
    for src in includers:
        if os.path.splitext(src)[0] == stem:
            return src
    for src in includers:
        if os.path.dirname(src) == directory:
            return src
    if includers:
        return includers[0]
    while True:
        for src in sources:
            # Not a .cppm: its command line makes the input a module interface.
            if os.path.dirname(src) == directory and not src.endswith(".cppm"):
                return src
        if not directory:
            return None
        directory = os.path.dirname(directory)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: compile_commands.py WORKSPACE EXECROOT OUTPUT < aquery.json")
    workspace, execroot, output = sys.argv[1:]
    link = convenience_link(workspace, execroot)
    execroot_path = link if link else execroot

    actions = json.load(sys.stdin).get("actions", [])
    commands = {}  # source -> execroot-relative argv
    precompiles = []  # the CppModulePrecompile argvs
    includers = {}  # header -> sources whose .d lists it
    for action in actions:
        if action.get("mnemonic") not in ("CppCompile", "CppModulePrecompile"):
            continue
        arguments = action["arguments"]
        if action["mnemonic"] == "CppModulePrecompile" and "-o" in arguments:
            precompiles.append(arguments)
        source = source_of(arguments)
        if not source or not source.endswith(SOURCE_SUFFIXES) or source in commands:
            continue
        if source.startswith(("external/", "bazel-out/")):
            continue
        commands[source] = arguments
        dep = dependency_file(arguments)
        if dep:
            for header in read_dependencies(os.path.join(execroot, dep)):
                if header.endswith(HEADER_SUFFIXES):
                    includers.setdefault(header, []).append(source)

    missing = sorted({p for a in commands.values() for p in module_files(a)
                      if not os.path.exists(os.path.join(execroot, p))})
    if missing:
        sys.exit("compile_commands: not built (build first): " + " ".join(missing))
    pcm_map = build_editor_modules(precompiles, workspace, execroot, execroot_path)

    entries = []
    sources = sorted(commands)
    for source in sources:
        entries.append({
            "directory": workspace,
            "file": source,
            "arguments": editor_arguments(commands[source], source, execroot_path, pcm_map),
        })
    unmatched = []
    for header in tree_headers(workspace):
        src = pick_includer(header, includers.get(header, []), sources)
        if src is None:
            unmatched.append(header)
            continue
        entries.append({
            "directory": workspace,
            "file": header,
            "arguments": editor_arguments(commands[src], src, execroot_path, pcm_map,
                                          as_header=header),
        })
    with open(output, "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    headers = len(entries) - len(sources)
    print("compile_commands: %d sources, %d headers -> %s" % (len(sources), headers, output))
    for header in unmatched:
        print("compile_commands: no translation unit to borrow flags from: " + header)


if __name__ == "__main__":
    main()
