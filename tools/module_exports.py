#!/usr/bin/env python3
"""Checks that each package's module interface (.cppm) exports every public name its headers
declare, and nothing else: the headers are the source of truth, the interface a list of
using-declarations that has to follow them by hand.

    bazel build //:aio && tools/module_exports.py          # check every package
    tools/module_exports.py --list net                     # the names, one per line, by header

The public names come from clang's own AST of the package's public headers (namespace aio and
its nested namespaces, aio::internal and out-of-line member definitions left out), so macros,
templates and overloads count as the compiler sees them. Exit status 1 when a package differs.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys

# package -> (public headers, the interface unit). A name belongs to the package whose
# directory declares it.
PACKAGES = {
    "loop": (["loop/loop.h"], "loop/loop.cppm"),
    "net": (["net/net.h"], "net/net.cppm"),
    "dns": (["dns/resolver.h", "dns/numeric.h"], "dns/dns.cppm"),
    "tls": (["tls/tls.h", "tls/engine.h"], "tls/tls.cppm"),
    "signals": (["signals/signals.h"], "signals/signals.cppm"),
    "process": (
        [
            "process/process.h",
            "process/subprocess.h",
            "process/watcher_policy.h",
            "process/pidfd_child_watcher.h",
            "process/threaded_child_watcher.h",
            "process/safe_child_watcher.h",
            "process/fast_child_watcher.h",
            "process/multi_loop_child_watcher.h",
            "process/subprocess_error.h",
        ],
        "process/process.cppm",
    ),
}

KINDS = {
    "CXXRecordDecl", "ClassTemplateDecl", "FunctionDecl", "FunctionTemplateDecl", "EnumDecl",
    "VarDecl", "TypeAliasDecl", "TypedefDecl", "ConceptDecl", "TypeAliasTemplateDecl",
    "VarTemplateDecl",
}


def ast_dump(headers, external):
    source = "".join('#include "%s"\n' % h for h in headers)
    cmd = ["clang-19", "-x", "c++", "-std=c++20", "-fsyntax-only", "-I."]
    for lib in ("system_absl", "system_cares", "system_boringssl"):
        cmd += ["-isystem", os.path.join(external, lib, "include")]
    cmd += ["-Xclang", "-ast-dump=json", "-Xclang", "-ast-dump-filter=aio", "-"]
    text = subprocess.run(cmd, input=source, capture_output=True, text=True, check=True).stdout
    decoder, i, objects = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return objects
        obj, i = decoder.raw_decode(text, i)
        objects.append(obj)


class Walker:
    """Collects qualified name -> {(file, kind, is_forward_declaration)}. clang's JSON names a
    location's file only when it differs from the previous location printed, so every location
    is visited in print order to know the current file."""

    def __init__(self):
        self.file = None
        self.names = collections.defaultdict(set)

    def track(self, node):
        if isinstance(node, dict):
            if "file" in node and ("line" in node or "offset" in node):
                self.file = node["file"]
            for value in node.values():
                self.track(value)
        elif isinstance(node, list):
            for value in node:
                self.track(value)

    def namespace(self, ns, prefix):
        for key in ("loc", "range"):
            self.track(ns.get(key))
        for decl in ns.get("inner", []):
            for key in ("loc", "range"):
                self.track(decl.get(key))
            where, kind, name = self.file, decl["kind"], decl.get("name")
            if kind == "NamespaceDecl":
                self.namespace(decl, prefix + "::" + (name or ""))
                continue
            self.track({k: v for k, v in decl.items() if k not in ("loc", "range")})
            if kind not in KINDS or not name or decl.get("isImplicit"):
                continue
            inner_kinds = {x["kind"] for x in decl.get("inner", [])}
            if kind == "FunctionTemplateDecl" and "CXXMethodDecl" in inner_kinds:
                continue  # an out-of-line definition of a member template
            forward = kind == "CXXRecordDecl" and not decl.get("completeDefinition")
            if kind == "ClassTemplateDecl":
                forward = not any(
                    x.get("completeDefinition")
                    for x in decl.get("inner", [])
                    if x["kind"] == "CXXRecordDecl"
                )
            if kind == "EnumDecl" and not decl.get("scopedEnumTag"):
                for e in decl.get("inner", []):
                    if e["kind"] == "EnumConstantDecl":
                        self.names[prefix + "::" + e["name"]].add((where, "enumerator", False))
            self.names[prefix + "::" + name].add((where, kind, forward))


def public_names(package, external):
    headers, _ = PACKAGES[package]
    walker = Walker()
    for ns in ast_dump(headers, external):
        walker.namespace(ns, "aio")
    result = {}
    for name, entries in walker.names.items():
        if "::internal" in name or "::testing" in name:
            continue
        defs = [e for e in entries if not e[2]] or list(entries)
        files = sorted({os.path.normpath(e[0]) for e in defs if e[0]})
        if files and files[0].startswith(package + "/"):
            result[name] = files[0]
    return result


def exported_names(cppm):
    """Qualified names of `using aio::x;` inside `export namespace N { ... }` blocks."""
    text = re.sub(r"//.*", "", open(cppm).read())
    names = set()
    for block in re.finditer(r"export\s+namespace\s+([\w:]+)\s*\{(.*?)\}", text, re.S):
        for using in re.finditer(r"using\s+([\w:]+(?:\s+co_await)?)\s*;", block.group(2)):
            names.add(using.group(1).replace("operator co_await", "operator co_await"))
    return names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--list", metavar="PACKAGE")
    parser.add_argument("--external", help="bazel's external/ directory (default: bazel info)")
    args = parser.parse_args()
    external = args.external or os.path.join(
        subprocess.run(["bazel", "info", "output_base"], capture_output=True, text=True,
                       check=True).stdout.strip(), "external")
    if args.list:
        by_file = collections.defaultdict(list)
        for name, where in public_names(args.list, external).items():
            by_file[where].append(name)
        for where in sorted(by_file):
            print("// " + where)
            for name in sorted(by_file[where], key=str.lower):
                print(name)
        return 0
    failed = False
    for package, (_, cppm) in PACKAGES.items():
        want = set(public_names(package, external))
        have = exported_names(cppm)
        missing, extra = sorted(want - have), sorted(have - want)
        status = "ok" if not missing and not extra else "DIFFERS"
        print("%-8s %-24s %3d names %s" % (package, cppm, len(want), status))
        for name in missing:
            print("  missing: " + name)
        for name in extra:
            print("  not a public name of the headers: " + name)
        failed = failed or bool(missing or extra)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
