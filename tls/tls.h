// Everything //tls offers: SSLContext and create_default_context, start_tls, the TLS errors and
// the extra-info types. Pass a context as `ssl` to create_connection / create_server & co.
#ifndef AIO_TLS_TLS_H_
#define AIO_TLS_TLS_H_

#include "tls/context.h"     // IWYU pragma: export
#include "tls/errors.h"      // IWYU pragma: export
#include "tls/ssl_object.h"  // IWYU pragma: export
#include "tls/start_tls.h"   // IWYU pragma: export

#endif  // AIO_TLS_TLS_H_
