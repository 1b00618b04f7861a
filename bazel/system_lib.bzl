"""system_lib: expose chosen files of an installed Debian package as a Bazel repository.

Only the named directories and files are symlinked in (never all of /usr/include, which would
shadow the C++ standard library's #include_next chain), and an overlay BUILD file describes them.
The repository is `local`, so it is re-evaluated each time Bazel starts; the headers and
libraries are real action inputs, so an apt upgrade invalidates cached results.
"""

def _system_lib_impl(rctx):
    for src, dst in rctx.attr.paths.items():
        if not rctx.path(src).exists:
            fail("system_lib(%s): %s is missing; run tools/setup.sh" % (rctx.name, src))
        rctx.symlink(src, dst)
    for libdir, pattern in rctx.attr.lib_globs.items():
        listing = rctx.execute(["/bin/sh", "-c", "cd '%s' && ls %s" % (libdir, pattern)])
        if listing.return_code != 0:
            fail("system_lib(%s): no %s in %s; run tools/setup.sh" % (rctx.name, pattern, libdir))
        for name in listing.stdout.splitlines():
            rctx.symlink(libdir + "/" + name, "lib/" + name)
    rctx.symlink(rctx.attr.build_file, "BUILD.bazel")

system_lib = repository_rule(
    implementation = _system_lib_impl,
    local = True,
    attrs = {
        "paths": attr.string_dict(doc = "host path -> path inside the repository"),
        "lib_globs": attr.string_dict(doc = "host directory -> shell glob of libraries to link in lib/"),
        "build_file": attr.label(allow_single_file = True, mandatory = True),
    },
)
