"""system_lib: expose chosen files of an installed Debian package as a Bazel repository.

Only the named directories and files are symlinked in (never all of /usr/include, which would
shadow the C++ standard library's #include_next chain), and an overlay BUILD file describes them.
`{libdir}` in a path (and `%{libdir}` in the overlay) is the host's multiarch library directory,
/usr/lib/x86_64-linux-gnu or /usr/lib/aarch64-linux-gnu. The repository is `local`, so it is
re-evaluated each time Bazel starts; the headers and libraries are real action inputs, so an apt
upgrade invalidates cached results.
"""

# What `uname -m` says -> (Debian multiarch triplet, Bazel's cpu name).
_MACHINES = {
    "x86_64": ("x86_64-linux-gnu", "k8"),
    "amd64": ("x86_64-linux-gnu", "k8"),
    "aarch64": ("aarch64-linux-gnu", "aarch64"),
    "arm64": ("aarch64-linux-gnu", "aarch64"),
}

def host_machine(rctx):
    """(multiarch triplet, Bazel cpu, uname -m) of the host; fails on any other machine."""
    machine = rctx.execute(["uname", "-m"]).stdout.strip()
    if machine not in _MACHINES:
        fail("aio: unsupported machine %s (x86_64 and aarch64 Debian are)" % machine)
    triplet, cpu = _MACHINES[machine]
    return triplet, cpu, machine

def multiarch_libdir(rctx):
    """The host's Debian multiarch library directory."""
    return "/usr/lib/" + host_machine(rctx)[0]

def _symlink_children(rctx, directory):
    for child in directory.readdir():
        rctx.symlink(child, child.basename)

def _missing(rctx, what):
    fail("aio: %s is missing for @%s: install the Debian package %s (apt-get install %s, or run aio's tools/setup.sh)" %
         (what, rctx.name, rctx.attr.package, rctx.attr.package))

def _system_lib_impl(rctx):
    libdir = multiarch_libdir(rctx)
    for src, dst in rctx.attr.paths.items():
        src = src.replace("{libdir}", libdir)
        if not rctx.path(src).exists:
            _missing(rctx, src)
        rctx.symlink(src, dst)
    for host_dir, pattern in rctx.attr.lib_globs.items():
        host_dir = host_dir.replace("{libdir}", libdir)
        listing = rctx.execute(["/bin/sh", "-c", "cd '%s' && ls %s" % (host_dir, pattern)])
        if listing.return_code != 0:
            _missing(rctx, "%s/%s" % (host_dir, pattern))
        for name in listing.stdout.splitlines():
            rctx.symlink(host_dir + "/" + name, "lib/" + name)
    rctx.template("BUILD.bazel", rctx.attr.build_file, {"%{libdir}": libdir})

system_lib = repository_rule(
    implementation = _system_lib_impl,
    local = True,
    attrs = {
        "paths": attr.string_dict(doc = "host path -> path inside the repository"),
        "lib_globs": attr.string_dict(doc = "host directory -> shell glob of libraries to link in lib/"),
        "build_file": attr.label(allow_single_file = True, mandatory = True),
        "package": attr.string(mandatory = True, doc = "the Debian package that installs these files"),
    },
)

def _aio_local_copy_impl(rctx):
    # A directory of aio's own tree as a repository, wherever aio itself was checked out:
    # local_repository(path=) would be relative to the consumer's workspace.
    anchor = rctx.path(rctx.attr.anchor)
    _symlink_children(rctx, anchor.dirname.get_child(rctx.attr.directory))

aio_local_copy = repository_rule(
    implementation = _aio_local_copy_impl,
    attrs = {
        "anchor": attr.label(allow_single_file = True, mandatory = True),
        "directory": attr.string(mandatory = True),
    },
)

def _debian_repository_impl(rctx):
    # A repository a Debian package installs (bazel-rules-java's rules), with the package named
    # when it is missing.
    if not rctx.path(rctx.attr.path).exists:
        _missing(rctx, rctx.attr.path)
    _symlink_children(rctx, rctx.path(rctx.attr.path))

debian_repository = repository_rule(
    implementation = _debian_repository_impl,
    local = True,
    attrs = {
        "path": attr.string(mandatory = True),
        "package": attr.string(mandatory = True),
    },
)
