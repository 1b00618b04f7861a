"""aio's build macros: the one place where compile flags live.

aio_cc_library / aio_cc_binary / aio_cc_test wrap the native rules; aio_cc_module,
aio_cc_module_test and aio_cc_module_binary wrap cc_module (C++20 named modules) with aio's copts,
and aio_cc_module_test adds aio's test deps (fd-leak check, gtest_main). A consumer builds its own
module tests and binaries with cc_module_test / cc_module_binary (bazel/cc_module.bzl), which add
nothing. `pollers = True` on a test expands it
once per poller backend, as `<name>@epoll` and `<name>@poll`, plus a `<name>` test_suite.
`loopback_only = True` adds `<name>@loopback_only`: the same test in a network namespace that
has only loopback (Bazel's `block-network` sandbox), as in containers and offline CI; it runs
with AIO_EXPECT_LOOPBACK_ONLY=1 so the test can check it really is there.
"""

load("//bazel:cc_module.bzl", "cc_module", "cc_module_binary")

# Warnings are errors for aio's own code under clang, the compiler it is developed with;
# third-party headers come in as -isystem and are exempt. Another compiler (a consumer's gcc)
# gets no warning flags at all: aio's flags never break, nor reach, a consumer's build (copts do
# not propagate to dependents).
AIO_COPTS = select({
    str(Label("//bazel:compiler_clang")): [
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "-Wthread-safety",
    ],
    "//conditions:default": [],
})

# Every poller backend the kernel has; each poller-sensitive test runs once against each.
POLLERS = ["epoll", "poll"]

# Every test checks that it leaves no file descriptor open (testing/fd_leak_check.cc).
# Label(): these name aio's own targets also when a macro is called from another repository.
_TEST_DEPS = [str(Label("//testing:fd_leak_check")), str(Label("//third_party:gtest_main"))]

def aio_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = AIO_COPTS + copts, **kwargs)

def aio_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = AIO_COPTS + copts, **kwargs)

def aio_cc_module(name, copts = [], **kwargs):
    cc_module(name = name, copts = AIO_COPTS + copts, **kwargs)

def _variants(name, pollers, tags, env, loopback_only = False):
    """(test name, env, tags) for each variant: one per poller (or just the test itself), plus
    the loopback-only one if asked."""
    if not pollers:
        variants = [(name, env, tags)]
    else:
        variants = []
        for poller in POLLERS:
            test_env = dict(env)
            test_env["AIO_POLLER"] = poller
            variants.append(("%s@%s" % (name, poller), test_env, tags + ["poller-" + poller]))
    if loopback_only:
        test_env = dict(env)
        test_env["AIO_EXPECT_LOOPBACK_ONLY"] = "1"
        variants.append(("%s@loopback_only" % name, test_env, tags + ["block-network"]))
    return variants

def _suite(name, pollers, tags, loopback_only = False):
    # Without pollers the plain test keeps its name (a loopback-only variant stands beside it).
    if not pollers:
        return
    tests = [":%s@%s" % (name, p) for p in POLLERS]
    if loopback_only:
        tests.append(":%s@loopback_only" % name)
    native.test_suite(name = name, tests = tests, tags = tags)

def aio_cc_test(name, srcs, deps = [], copts = [], pollers = False, loopback_only = False, tags = [], env = {}, size = "small", **kwargs):
    for test_name, test_env, test_tags in _variants(name, pollers, tags, env, loopback_only):
        native.cc_test(
            name = test_name,
            srcs = srcs,
            deps = deps + _TEST_DEPS,
            copts = AIO_COPTS + copts,
            tags = test_tags,
            env = test_env,
            size = size,
            **kwargs
        )
    _suite(name, pollers, tags, loopback_only)

def aio_cc_module_test(name, srcs, deps = [], copts = [], pollers = False, tags = [], env = {}, size = "small", **kwargs):
    """A test whose sources `import` named modules (a plain cc_test cannot)."""
    cc_module(
        name = name + "_objs",
        srcs = srcs,
        deps = deps + _TEST_DEPS,
        copts = AIO_COPTS + copts,
        alwayslink = True,
        testonly = True,
    )
    for test_name, test_env, test_tags in _variants(name, pollers, tags, env):
        native.cc_test(name = test_name, deps = [":" + name + "_objs"], tags = test_tags, env = test_env, size = size, **kwargs)
    _suite(name, pollers, tags)

def aio_cc_module_binary(name, srcs, deps = [], copts = [], **kwargs):
    """A binary whose sources `import` named modules, with aio's copts."""
    cc_module_binary(name = name, srcs = srcs, deps = deps, copts = AIO_COPTS + copts, **kwargs)
