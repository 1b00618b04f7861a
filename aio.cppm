// The umbrella module aio: `import aio;` gives everything aio has, the named-module counterpart
// of "aio.h" and //:aio. Each package's module exports its own names; this unit only
// re-exports them, so `import aio;` and importing the packages one by one see the same API.
export module aio;

export import aio.loop;
export import aio.net;
export import aio.dns;
export import aio.tls;
export import aio.signals;
export import aio.process;
