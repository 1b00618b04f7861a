"""aio_dependencies(): every repository aio needs, for aio itself and for a consumer.

    local_repository(name = "aio", path = "/path/to/aio")
    load("@aio//bazel:deps.bzl", "aio_dependencies")
    aio_dependencies()

Nothing is downloaded: each library is a Debian package (bazel/system_lib.bzl), and the three
repositories Bazel 4's built-in WORKSPACE suffix would fetch are defined first from aio's tree
and Debian. A repository the caller defined before the call is left alone, so a consumer can
supply its own (its own `local_config_cc` keeps its own C++ toolchain; aio then needs clang 19
with -std=c++20 from it). Missing packages fail with the Debian package's name when a target
first needs them, not at the call.
"""

load("//bazel:system_lib.bzl", "aio_local_copy", "debian_repository", "system_lib")
load("//bazel/toolchain:clang_toolchain.bzl", "aio_clang_toolchain")

# Any file of //third_party: aio's own tree is found through it wherever aio is checked out.
_THIRD_PARTY = Label("//third_party:README.md")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def _overlay(name):
    return Label("//third_party:%s.BUILD" % name)

def aio_dependencies(toolchain = True):
    """Defines aio's repositories.

    Args:
      toolchain: define @local_config_cc as aio's clang-19 C++ toolchain (the default C++
        toolchain of the whole workspace, as --repo_env=CC=clang-19 made it before). False
        keeps Bazel's auto-detected one, which then needs CC=clang-19 and
        BAZEL_CXXOPTS=-std=c++20 in the caller's .bazelrc.
    """

    # Offline stand-ins for the built-in suffix's downloads (third_party/README.md).
    _maybe(aio_local_copy, "rules_cc", anchor = _THIRD_PARTY, directory = "rules_cc")
    _maybe(aio_local_copy, "remote_coverage_tools", anchor = _THIRD_PARTY, directory = "remote_coverage_tools")
    _maybe(debian_repository, "rules_java", path = "/usr/share/bazel/rules/java", package = "bazel-rules-java")
    if toolchain:
        _maybe(aio_clang_toolchain, "local_config_cc")

    _maybe(
        system_lib,
        "system_absl",
        build_file = _overlay("absl"),
        lib_globs = {"{libdir}": "libabsl_*.so"},
        package = "libabsl-dev",
        paths = {"/usr/include/absl": "include/absl"},
    )
    _maybe(
        system_lib,
        "system_cares",
        build_file = _overlay("cares"),
        package = "libc-ares-dev",
        paths = {
            "/usr/include/ares.h": "include/ares.h",
            "/usr/include/ares_build.h": "include/ares_build.h",
            "/usr/include/ares_dns.h": "include/ares_dns.h",
            "/usr/include/ares_rules.h": "include/ares_rules.h",
            "/usr/include/ares_version.h": "include/ares_version.h",
            "{libdir}/libcares.so": "lib/libcares.so",
        },
    )
    _maybe(
        system_lib,
        "system_boringssl",
        build_file = _overlay("boringssl"),
        package = "android-libboringssl-dev",
        paths = {
            "/usr/include/android/openssl": "include/openssl",
            "{libdir}/android/libssl.so": "lib/libssl.so",
            "{libdir}/android/libcrypto.so": "lib/libcrypto.so",
        },
    )

    # Test-only (@aio//testing, aio's own tests): GoogleTest and GoogleMock.
    _maybe(
        system_lib,
        "system_gtest",
        build_file = _overlay("gtest"),
        package = "libgtest-dev libgmock-dev",
        paths = {
            "/usr/include/gtest": "include/gtest",
            "/usr/include/gmock": "include/gmock",
            "{libdir}/libgtest.a": "lib/libgtest.a",
            "{libdir}/libgtest_main.a": "lib/libgtest_main.a",
            "{libdir}/libgmock.a": "lib/libgmock.a",
        },
    )

    # Benchmarks only (bench/): Google Benchmark and the event loops aio is compared with.
    _maybe(
        system_lib,
        "system_benchmark",
        build_file = _overlay("benchmark"),
        package = "libbenchmark-dev",
        paths = {
            "/usr/include/benchmark": "include/benchmark",
            "{libdir}/libbenchmark.so": "lib/libbenchmark.so",
            "{libdir}/libbenchmark_main.a": "lib/libbenchmark_main.a",
        },
    )
    _maybe(
        system_lib,
        "system_libuv",
        build_file = _overlay("libuv"),
        package = "libuv1-dev",
        paths = {
            "/usr/include/uv.h": "include/uv.h",
            "/usr/include/uv": "include/uv",
            "{libdir}/libuv.so": "lib/libuv.so",
        },
    )
    _maybe(
        system_lib,
        "system_asio",
        build_file = _overlay("asio"),
        package = "libasio-dev",
        paths = {
            "/usr/include/asio.hpp": "include/asio.hpp",
            "/usr/include/asio": "include/asio",
        },
    )
