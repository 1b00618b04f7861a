// subprocess.SubprocessError: a spawn that failed for another reason than an OSError (the
// preexec_fn hook threw in the child).
#ifndef AIO_PROCESS_SUBPROCESS_ERROR_H_
#define AIO_PROCESS_SUBPROCESS_ERROR_H_

#include <stdexcept>

#include "loop/errors.h"

namespace aio {

class SubprocessError : public internal::StdError<std::runtime_error> {
 public:
  using StdError::StdError;
};

}  // namespace aio

#endif  // AIO_PROCESS_SUBPROCESS_ERROR_H_
