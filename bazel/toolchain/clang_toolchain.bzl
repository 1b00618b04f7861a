"""aio's C++ toolchain: the Debian clang-19 it is developed with, configured without flags.

Bazel 4 picks the C++ toolchain through --crosstool_top, whose default is
@bazel_tools//tools/cpp:toolchain, an alias of @local_config_cc//:toolchain. A WORKSPACE that
defines `local_config_cc` before Bazel's built-in suffix (which calls cc_configure()) wins, so
aio_dependencies() defines it with this rule and a consumer needs no .bazelrc line: not
`--repo_env=CC=clang-19`, not `--repo_env=BAZEL_CXXOPTS=-std=c++20`. (register_toolchains would
only be consulted with --incompatible_enable_cc_toolchain_resolution, one more flag.)

What differs from cc_configure's auto-detected toolchain:
- the compiler is clang-19 (or $AIO_CLANG), C++ is -std=c++20 for every target (a .pcm and its
  importers must agree on -std), and no warning flag is set: aio's warnings are aio's copts
  (bazel/aio.bzl) and never reach a consumer's code;
- the toolchain's files include toolchain_identity.txt: the compiler's version and checksum, its
  include directories and the Debian package versions of the compiler, libstdc++ and libc.
  Every compile and link action reads the toolchain's files, so they are in every action key:
  a cache shared by machines never serves an object built by another compiler or against
  other system headers.
- the host's multiarch directory is found (x86_64 and aarch64 Debian), not assumed.

The rule is `configure`: `bazel sync --configure` re-runs it after a compiler upgrade on the
same machine (a new machine or output base always runs it).
"""

load("//bazel:system_lib.bzl", "host_machine")

def _run(rctx, args, what):
    result = rctx.execute(args)
    if result.return_code != 0:
        fail("aio toolchain: %s failed (%s): %s" % (what, " ".join(args), result.stderr))
    return result

def _tool(rctx, name, package):
    path = rctx.which(name)
    if not path:
        fail("aio toolchain: `%s` is not on PATH; install the Debian package %s " % (name, package) +
             "(apt-get install %s, or run aio's tools/setup.sh)" % package)
    return str(path)

def _builtin_include_directories(rctx, clang):
    """The directories clang searches for <...>, as `clang -v` lists them, plus its resource
    directory's include/ and share/ (sanitizer ignore lists are read from share/). Bazel runs
    clang with -no-canonical-prefixes, which finds the resource directory through the clang-19
    symlink's own path, so both spellings are listed; Bazel accepts only normalized paths."""
    dirs = []
    for prefixes in [[], ["-no-canonical-prefixes"]]:
        result = _run(rctx, [clang] + prefixes + ["-E", "-xc++", "-std=c++20", "-v", "/dev/null"], "clang -v")
        inside = False
        for line in result.stderr.splitlines():
            if line.startswith("#include <...> search starts here:"):
                inside = True
            elif line.startswith("End of search list."):
                inside = False
            elif inside:
                dirs.append(line.strip())
        resource = _run(rctx, [clang] + prefixes + ["-print-resource-dir"], "clang -print-resource-dir").stdout.strip()
        dirs += [resource + "/include", resource + "/share"]
    normalized = []
    for d in dirs:
        for candidate in [d, str(rctx.path(d).realpath) if rctx.path(d).exists else d]:
            if "/../" not in candidate and "/./" not in candidate and candidate not in normalized:
                normalized.append(candidate)
    return normalized

def _identity(rctx, clang, machine, include_dirs):
    """What a compiled object depends on outside the workspace, as text (see module doc)."""
    real_clang = str(rctx.path(clang).realpath)
    lines = ["compiler: " + real_clang]
    lines.append(_run(rctx, [clang, "--version"], "clang --version").stdout.strip())
    sha = rctx.execute(["sha256sum", real_clang])
    lines.append("sha256: " + (sha.stdout.split(" ")[0] if sha.return_code == 0 else "unknown"))
    lines.append("include directories:")
    lines += ["  " + d for d in include_dirs]

    # The Debian packages that own the compiler, the C++ library and the C library: an apt
    # upgrade of any of them changes this text. Off Debian, checksums of the same files.
    probes = [real_clang]
    for name in ["libstdc++.so", "libc.so", "libclang_rt.asan-%s.a" % machine]:
        found = rctx.execute([clang, "-print-file-name=" + name]).stdout.strip()
        if found and found != name and rctx.path(found).exists:
            probes.append(str(rctx.path(found).realpath))
    for d in include_dirs:
        header = d + "/stdio.h" if rctx.path(d + "/stdio.h").exists else d + "/vector"
        if rctx.path(header).exists:
            probes.append(header)
    owners = rctx.execute(["dpkg-query", "-S"] + probes)
    packages = sorted({line.split(":")[0]: True for line in owners.stdout.splitlines() if ":" in line}.keys())
    if packages:
        versions = rctx.execute(["dpkg-query", "-W", "-f=${binary:Package} ${Version}\n"] + packages)
        lines.append("packages:")
        lines += ["  " + v for v in versions.stdout.strip().splitlines()]
    else:
        sums = rctx.execute(["sha256sum"] + probes)
        lines.append("checksums:")
        lines += ["  " + s for s in sums.stdout.strip().splitlines()]
    return "\n".join(lines) + "\n"

def _list(values):
    return "[\n" + "".join(["        %r,\n" % v for v in values]) + "    ]"

def _aio_clang_toolchain_impl(rctx):
    clang = _tool(rctx, rctx.os.environ.get("AIO_CLANG", "clang-19"), "clang-19")
    _, cpu, machine = host_machine(rctx)
    tools = {
        "gcc": clang,
        "cpp": clang,
        "ar": _tool(rctx, "ar", "binutils"),
        "ld": _tool(rctx, "ld", "binutils"),
        "nm": _tool(rctx, "nm", "binutils"),
        "objcopy": _tool(rctx, "objcopy", "binutils"),
        "objdump": _tool(rctx, "objdump", "binutils"),
        "strip": _tool(rctx, "strip", "binutils"),
        # Not used by aio's builds; Bazel's tool table names them.
        "dwp": "/usr/bin/dwp",
        "gcov": "/usr/bin/gcov",
        "llvm-cov": "/usr/bin/llvm-cov",
    }
    gold = _tool(rctx, "ld.gold", "binutils")
    include_dirs = _builtin_include_directories(rctx, clang)
    rctx.file("toolchain_identity.txt", _identity(rctx, clang, machine, include_dirs))
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.template("BUILD.bazel", rctx.attr._build_template, {
        "%{cpu}": cpu,
        "%{tool_paths}": "{\n" + "".join(["        %r: %r,\n" % (k, v) for k, v in sorted(tools.items())]) + "    }",
        "%{include_dirs}": _list(include_dirs),
        "%{link_flags}": _list(["-fuse-ld=" + gold, "-Wl,-no-as-needed", "-Wl,-z,relro,-z,now", "-B/usr/bin"]),
    })

aio_clang_toolchain = repository_rule(
    implementation = _aio_clang_toolchain_impl,
    attrs = {"_build_template": attr.label(default = Label("//bazel/toolchain:BUILD.tpl"))},
    environ = ["AIO_CLANG", "PATH"],
    configure = True,
    local = True,
)
