// The named module aio.tls: `import aio.tls;` gives //tls's API (SSLContext,
// create_default_context, start_tls, the TLS errors, SSLObject and the pure Engine) and,
// re-exported, aio.net's (a context is passed to create_connection / create_server). The
// headers stay the source of truth; this unit exports the names they declare
// (tools/module_exports.py checks the list against them).
module;

#include "tls/engine.h"
#include "tls/tls.h"

export module aio.tls;

export import aio.net;

export namespace aio::tls {
// tls/context.h
using aio::tls::ContextProtocol;
using aio::tls::create_default_context;
using aio::tls::kDefaultHandshakeTimeout;
using aio::tls::Password;
using aio::tls::PROTOCOL_TLS_CLIENT;
using aio::tls::PROTOCOL_TLS_SERVER;
using aio::tls::Purpose;
using aio::tls::SSLContext;
using aio::tls::TLSVersion;
using aio::tls::VerifyMode;

// tls/engine.h
using aio::tls::Engine;

// tls/errors.h
using aio::tls::SSLCertVerificationError;
using aio::tls::SSLEOFError;
using aio::tls::SSLError;

// tls/ssl_object.h
using aio::tls::Cipher;
using aio::tls::PeerCertificate;
using aio::tls::RDN;
using aio::tls::SSLObject;

// tls/start_tls.h
using aio::tls::start_tls;
}  // namespace aio::tls
