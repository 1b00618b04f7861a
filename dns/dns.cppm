// The named module aio.dns: `import aio.dns;` gives //dns:resolver's API (aio::dns::getaddrinfo,
// getnameinfo, Resolver, AddrInfo, ResolverError, the numeric fast path) and, re-exported,
// aio.loop's (lookups are coroutines on a loop). The headers stay the source of truth; this
// unit exports the names they declare (tools/module_exports.py checks the list against them).
module;

#include "dns/numeric.h"
#include "dns/resolver.h"

export module aio.dns;

export import aio.loop;

export namespace aio::dns {
// dns/addrinfo.h
using aio::dns::AddrInfo;
using aio::dns::resolver_category;
using aio::dns::ResolverError;
using aio::dns::to_entries;

// dns/numeric.h
using aio::dns::interleave_address_families;
using aio::dns::numeric_getaddrinfo;

// dns/resolver.h
using aio::dns::eai_from_ares;
using aio::dns::getaddrinfo;
using aio::dns::getnameinfo;
using aio::dns::Resolver;
using aio::dns::ResolverOptions;
}  // namespace aio::dns
