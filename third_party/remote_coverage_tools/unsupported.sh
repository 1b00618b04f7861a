#!/bin/sh
echo "bazel coverage is not supported by aio's offline build" >&2
exit 1
