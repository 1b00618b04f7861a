"""C++20 named modules for Bazel 4 (which has no native support), with clang.

cc_module builds one module interface unit (.cppm) into a BMI (.pcm) and an object, compiles
optional implementation units or importers (`srcs`), and returns CcInfo plus CcModuleInfo so
that dependants can `import` it. The command lines are the C++ toolchain's own (same flags,
defines and include paths as cc_library), because clang refuses a BMI built with a different
-std or exception mode.

    cc_module(name = "loop", module_name = "aio.loop", interface = "loop.cppm", deps = [...])

A plain cc_test / cc_binary cannot `import` (its compile action knows no .pcm), so sources that
do are compiled by a cc_module and linked by the native rule: cc_module_test and
cc_module_binary below. They add nothing of their own (no test framework, no aio test deps), so
another repository uses them as they are:

    load("@aio//bazel:cc_module.bzl", "cc_module_binary", "cc_module_test")
    cc_module_binary(name = "hello", srcs = ["hello.cc"], deps = ["@aio//:module"])
    cc_module_test(name = "hello_test", srcs = ["hello_test.cc"],
                   deps = ["@aio//net:module", "@com_google_googletest//:gtest_main"])
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

CcModuleInfo = provider(
    doc = "The named modules a target provides, transitively.",
    fields = {
        "pcms": "depset of .pcm files",
        "module_map": "depset of 'module.name=path/to.pcm' strings for -fmodule-file=",
    },
)

_COMPILE = "c++-compile"

def _compile_variables(ctx, toolchain, features, cc_ctx, flags, source, output):
    return cc_common.create_compile_variables(
        feature_configuration = features,
        cc_toolchain = toolchain,
        user_compile_flags = flags,
        source_file = source,
        output_file = output,
        include_directories = cc_ctx.includes,
        quote_include_directories = cc_ctx.quote_includes,
        system_include_directories = cc_ctx.system_includes,
        framework_include_directories = cc_ctx.framework_includes,
        preprocessor_defines = depset(ctx.attr.defines, transitive = [cc_ctx.defines]),
        use_pic = True,
    )

def _run_compiler(ctx, toolchain, features, cc_ctx, flags, source, output, inputs, mnemonic, execution_requirements = {}):
    variables = _compile_variables(ctx, toolchain, features, cc_ctx, flags, source.path, output.path)
    ctx.actions.run(
        executable = cc_common.get_tool_for_action(feature_configuration = features, action_name = _COMPILE),
        arguments = cc_common.get_memory_inefficient_command_line(
            feature_configuration = features,
            action_name = _COMPILE,
            variables = variables,
        ),
        env = cc_common.get_environment_variables(
            feature_configuration = features,
            action_name = _COMPILE,
            variables = variables,
        ),
        inputs = inputs,
        outputs = [output],
        mnemonic = mnemonic,
        execution_requirements = execution_requirements,
        progress_message = "%s %s" % (mnemonic, source.short_path),
    )

def _cc_module_impl(ctx):
    toolchain = find_cpp_toolchain(ctx)
    features = cc_common.configure_features(
        ctx = ctx,
        cc_toolchain = toolchain,
        requested_features = ctx.features,
        unsupported_features = ctx.disabled_features,
    )
    dep_cc = cc_common.merge_cc_infos(cc_infos = [d[CcInfo] for d in ctx.attr.deps])
    dep_modules = [d[CcModuleInfo] for d in ctx.attr.deps if CcModuleInfo in d]
    pcms = depset(transitive = [m.pcms for m in dep_modules])
    module_map = depset(transitive = [m.module_map for m in dep_modules])
    user_flags = ctx.fragments.cpp.copts + ctx.fragments.cpp.cxxopts + ctx.attr.copts
    cc_ctx = dep_cc.compilation_context
    objects = []

    if ctx.file.interface:
        if not ctx.attr.module_name:
            fail("cc_module with an interface needs module_name")
        pcm = ctx.actions.declare_file("_pcm/%s.pcm" % ctx.attr.module_name)
        dep_module_flags = ["-fmodule-file=" + m for m in module_map.to_list()]
        inputs = depset(
            [ctx.file.interface] + ctx.files.hdrs,
            transitive = [cc_ctx.headers, pcms, toolchain.all_files],
        )
        _run_compiler(
            ctx,
            toolchain,
            features,
            cc_ctx,
            # -fmodules-embed-all-files: the .pcm carries the text of every header it read, so
            # an importer never opens them at the absolute paths the .pcm records. Those name
            # the output base that built it, which a shared cache hands to other clones (seen:
            # "cannot open file '<a deleted worktree's output base>/execroot/aio/loop/...h'").
            user_flags + dep_module_flags + [
                "-Xclang",
                "-fmodules-embed-all-files",
                "-x",
                "c++-module",
                "--precompile",
            ],
            ctx.file.interface,
            pcm,
            inputs,
            "CppModulePrecompile",
            # Unsandboxed, the interface is read at one stable execroot path, which clang
            # records in the .pcm: a clean rebuild gives the same bytes, so importers' cached
            # results stay valid (a sandbox's numbered directory would differ every build).
            # The sandboxed .pcm -> .o step and every importer still check declared inputs.
            execution_requirements = {"no-sandbox": "1"},
        )
        obj = ctx.actions.declare_file("_objs/%s/%s.pic.o" % (ctx.label.name, ctx.attr.module_name))
        _run_compiler(
            ctx,
            toolchain,
            features,
            cc_ctx,
            user_flags + dep_module_flags + ["-Wno-unused-command-line-argument"],
            pcm,
            obj,
            depset([pcm], transitive = [pcms, toolchain.all_files]),
            "CppModuleCompile",
        )
        objects.append(obj)
        pcms = depset([pcm], transitive = [pcms])
        module_map = depset(["%s=%s" % (ctx.attr.module_name, pcm.path)], transitive = [module_map])

    own_cc_ctx = cc_common.create_compilation_context(headers = pcms)
    compilation_contexts = [cc_ctx, own_cc_ctx]
    if ctx.files.srcs:
        _, outputs = cc_common.compile(
            name = ctx.label.name,
            actions = ctx.actions,
            feature_configuration = features,
            cc_toolchain = toolchain,
            srcs = ctx.files.srcs,
            private_hdrs = ctx.files.hdrs,
            defines = ctx.attr.defines,
            user_compile_flags = ctx.attr.copts + ["-fmodule-file=" + m for m in module_map.to_list()],
            compilation_contexts = compilation_contexts,
            additional_inputs = pcms.to_list(),
            disallow_nopic_outputs = True,
        )
        objects += outputs.pic_objects

    linking_context, _ = cc_common.create_linking_context_from_compilation_outputs(
        actions = ctx.actions,
        feature_configuration = features,
        cc_toolchain = toolchain,
        compilation_outputs = cc_common.create_compilation_outputs(
            objects = depset(objects),
            pic_objects = depset(objects),
        ),
        linking_contexts = [dep_cc.linking_context],
        user_link_flags = ctx.attr.linkopts,
        name = ctx.label.name,
        alwayslink = ctx.attr.alwayslink,
        disallow_dynamic_library = True,
    )
    cc_info = CcInfo(
        compilation_context = cc_common.merge_cc_infos(
            cc_infos = [dep_cc, CcInfo(compilation_context = own_cc_ctx)],
        ).compilation_context,
        linking_context = linking_context,
    )
    return [
        cc_info,
        CcModuleInfo(pcms = pcms, module_map = module_map),
        DefaultInfo(files = depset(objects)),
    ]

cc_module = rule(
    implementation = _cc_module_impl,
    attrs = {
        "module_name": attr.string(doc = "the exported module's name, e.g. aio.loop"),
        "interface": attr.label(allow_single_file = [".cppm"], doc = "the primary module interface unit"),
        "srcs": attr.label_list(allow_files = [".cc", ".cpp"], doc = "implementation units and importers"),
        "hdrs": attr.label_list(allow_files = True, doc = "private headers of interface and srcs"),
        "deps": attr.label_list(providers = [CcInfo]),
        "copts": attr.string_list(),
        "defines": attr.string_list(),
        "linkopts": attr.string_list(),
        "alwayslink": attr.bool(default = False),
        "_cc_toolchain": attr.label(default = "@bazel_tools//tools/cpp:current_cc_toolchain"),
    },
    fragments = ["cpp"],
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
    incompatible_use_toolchain_transition = True,
)

def _module_objects(name, srcs, deps, copts, defines, hdrs, testonly, tags):
    # alwayslink: the objects are all the binary has, and a test's registrations (gtest's
    # static TEST objects) or main() must not be dropped by the linker.
    cc_module(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        deps = deps,
        copts = copts,
        defines = defines,
        alwayslink = True,
        testonly = testonly,
        # "manual" keeps the objects out of //... when the test or binary is out of it.
        tags = [t for t in tags if t == "manual"],
        visibility = ["//visibility:private"],
    )

def cc_module_test(name, srcs, deps = [], copts = [], defines = [], hdrs = [], tags = [], **kwargs):
    """A cc_test whose sources may `import` named modules.

    srcs, hdrs, deps, copts and defines build the sources (as cc_module's attributes of those
    names; `<name>_objs` is that target); every other argument (size, env, data, args, timeout,
    linkopts, visibility, ...) goes to the cc_test. Only the deps given are linked: bring your
    own main() or test framework.
    """
    _module_objects(name + "_objs", srcs, deps, copts, defines, hdrs, True, tags)
    native.cc_test(name = name, deps = [":" + name + "_objs"], tags = tags, **kwargs)

def cc_module_binary(name, srcs, deps = [], copts = [], defines = [], hdrs = [], tags = [], testonly = False, **kwargs):
    """A cc_binary whose sources may `import` named modules; the arguments as cc_module_test's."""
    _module_objects(name + "_objs", srcs, deps, copts, defines, hdrs, testonly, tags)
    native.cc_binary(name = name, deps = [":" + name + "_objs"], tags = tags, testonly = testonly, **kwargs)
