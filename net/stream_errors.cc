#include "net/stream_errors.h"

namespace aio {
namespace {

std::string incomplete_read_message(std::size_t got, std::optional<std::size_t> expected) {
  // CPython 3.8 formats `expected` with repr(): an int, or None for readuntil.
  return std::to_string(got) + " bytes read on a total of " +
         (expected ? std::to_string(*expected) : std::string("None")) + " expected bytes";
}

}  // namespace

IncompleteReadError::IncompleteReadError(std::string partial, std::optional<std::size_t> expected)
    : EOFError(incomplete_read_message(partial.size(), expected)),
      partial_(std::move(partial)),
      expected_(expected) {}

}  // namespace aio
