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
"""

import json
import os
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


def editor_arguments(arguments, source, execroot_path, as_header=None):
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
    includers = {}  # header -> sources whose .d lists it
    for action in actions:
        if action.get("mnemonic") not in ("CppCompile", "CppModulePrecompile"):
            continue
        arguments = action["arguments"]
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

    entries = []
    sources = sorted(commands)
    for source in sources:
        entries.append({
            "directory": workspace,
            "file": source,
            "arguments": editor_arguments(commands[source], source, execroot_path),
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
            "arguments": editor_arguments(commands[src], src, execroot_path, as_header=header),
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
